import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { Match } from 'aws-cdk-lib/assertions';
import { AssetManifestArtifact } from 'aws-cdk-lib/cx-api';
import { resourceById, synthRelay } from './support/relay-app.ts';

const prod = synthRelay({ stage: 'prod' });
const dev = synthRelay({ stage: 'dev' });

describe('network: two AZs, public subnets, no NAT gateway', () => {
  test('two public subnets, no private subnets, no NAT gateway', () => {
    prod.service.resourceCountIs('AWS::EC2::VPC', 1);
    prod.service.resourceCountIs('AWS::EC2::Subnet', 2);
    prod.service.resourceCountIs('AWS::EC2::NatGateway', 0);
    prod.service.resourceCountIs('AWS::EC2::InternetGateway', 1);
    // Tasks get their address from ECS, never from the subnet.
    prod.service.allResourcesProperties('AWS::EC2::Subnet', { MapPublicIpOnLaunch: false });
    const subnets = Object.values(prod.service.findResources('AWS::EC2::Subnet'));
    const azs = subnets.map((subnet) => JSON.stringify(subnet.Properties.AvailabilityZone));
    assert.equal(new Set(azs).size, 2, 'subnets in two different AZs');
  });

  test('DynamoDB traffic takes a (free) gateway endpoint', () => {
    prod.service.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith(['.dynamodb'])] }),
    });
  });

  test('rejected flows are logged to CloudWatch with the stage retention', () => {
    prod.service.hasResourceProperties('AWS::EC2::FlowLog', {
      ResourceType: 'VPC',
      TrafficType: 'REJECT',
      LogDestinationType: 'cloud-watch-logs',
    });
    const { resource } = resourceById(prod.service, 'AWS::Logs::LogGroup', 'RelayNetworkRejectedFlowLogs');
    assert.equal(resource.Properties.RetentionInDays, 365);
    assert.equal(resource.DeletionPolicy, 'Retain');
  });
});

describe('network load balancer', () => {
  test('is internet-facing, cross-zone, with a security group, deletion-protected in prod only', () => {
    prod.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      Type: 'network',
      Scheme: 'internet-facing',
      SecurityGroups: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^RelayServiceLoadBalancerSecurityGroup'), 'GroupId'] }],
      LoadBalancerAttributes: Match.arrayWith([
        { Key: 'deletion_protection.enabled', Value: 'true' },
        { Key: 'load_balancing.cross_zone.enabled', Value: 'true' },
      ]),
    });
    dev.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', {
      LoadBalancerAttributes: Match.arrayWith([{ Key: 'deletion_protection.enabled', Value: 'false' }]),
    });
  });

  test('has exactly two TCP listeners, 587 and 465, each forwarding to its own target group', () => {
    prod.service.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 2);
    for (const [port, group] of [
      [587, 'RelayServiceSubmissionTargets'],
      [465, 'RelayServiceSubmissionsTargets'],
    ] as const) {
      prod.service.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
        Port: port,
        Protocol: 'TCP',
        DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: Match.stringLikeRegexp(`^${group}`) } }],
      });
    }
  });

  test('target groups: IP targets on the unprivileged container ports, client IP preserved', () => {
    for (const [idPrefix, port] of [
      ['RelayServiceSubmissionTargets', 2587],
      ['RelayServiceSubmissionsTargets', 2465],
    ] as const) {
      const { resource } = resourceById(prod.service, 'AWS::ElasticLoadBalancingV2::TargetGroup', idPrefix);
      assert.equal(resource.Properties.Port, port);
      assert.equal(resource.Properties.Protocol, 'TCP');
      assert.equal(resource.Properties.TargetType, 'ip');
      assert.ok(
        resource.Properties.TargetGroupAttributes.some(
          (a: { Key: string; Value: string }) => a.Key === 'preserve_client_ip.enabled' && a.Value === 'true',
        ),
        'preserve_client_ip.enabled=true',
      );
    }
  });

  test('health check is HTTP GET /healthz on 8080 expecting 200, never an SMTP session', () => {
    prod.service.allResourcesProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckEnabled: true,
      HealthCheckProtocol: 'HTTP',
      HealthCheckPort: '8080',
      HealthCheckPath: '/healthz',
      Matcher: { HttpCode: '200' },
      HealthCheckIntervalSeconds: 10,
      HealthyThresholdCount: 2,
      UnhealthyThresholdCount: 2,
    });
  });

  test('deregistration delay and unhealthy draining equal the relay grace time, per stage', () => {
    for (const [synth, grace] of [
      [prod, '90'],
      [dev, '30'],
    ] as const) {
      synth.service.allResourcesProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
        TargetGroupAttributes: Match.arrayWith([
          { Key: 'deregistration_delay.timeout_seconds', Value: grace },
          { Key: 'deregistration_delay.connection_termination.enabled', Value: 'false' },
          { Key: 'target_health_state.unhealthy.connection_termination.enabled', Value: 'false' },
          { Key: 'target_health_state.unhealthy.draining_interval_seconds', Value: grace },
        ]),
      });
    }
  });
});

describe('security groups', () => {
  test('the NLB admits 587, 465 and ICMP fragmentation-needed from anywhere, nothing else', () => {
    const { resource } = resourceById(prod.service, 'AWS::EC2::SecurityGroup', 'RelayServiceLoadBalancerSecurityGroup');
    const ingress = resource.Properties.SecurityGroupIngress.map((rule: Record<string, unknown>) => ({
      CidrIp: rule.CidrIp,
      IpProtocol: rule.IpProtocol,
      FromPort: rule.FromPort,
      ToPort: rule.ToPort,
    }));
    assert.deepEqual(ingress, [
      { CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 587, ToPort: 587 },
      { CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 465, ToPort: 465 },
      { CidrIp: '0.0.0.0/0', IpProtocol: 'icmp', FromPort: 3, ToPort: 4 },
    ]);
    assert.equal(resource.Properties.SecurityGroupEgress?.find((r: { CidrIp?: string }) => r.CidrIp === '0.0.0.0/0'), undefined);
  });

  test('tasks admit only the NLB group, on 2587, 2465 and 8080; no CIDR ingress', () => {
    const { id: taskSg, resource } = resourceById(prod.service, 'AWS::EC2::SecurityGroup', 'RelayServiceTaskSecurityGroup');
    assert.equal(resource.Properties.SecurityGroupIngress, undefined, 'no inline (CIDR) ingress');
    const ingress = Object.values(prod.service.findResources('AWS::EC2::SecurityGroupIngress'))
      .filter((rule) => rule.Properties.GroupId['Fn::GetAtt'][0] === taskSg)
      .map((rule) => [rule.Properties.FromPort, rule.Properties.ToPort, rule.Properties.SourceSecurityGroupId['Fn::GetAtt'][0]]);
    const nlbSg = resourceById(prod.service, 'AWS::EC2::SecurityGroup', 'RelayServiceLoadBalancerSecurityGroup').id;
    assert.deepEqual(
      ingress.sort(),
      [
        [2465, 2465, nlbSg],
        [2587, 2587, nlbSg],
        [8080, 8080, nlbSg],
      ].sort(),
    );
  });

  test('tasks send only HTTPS out', () => {
    const { resource } = resourceById(prod.service, 'AWS::EC2::SecurityGroup', 'RelayServiceTaskSecurityGroup');
    assert.deepEqual(
      resource.Properties.SecurityGroupEgress.map((r: Record<string, unknown>) => [r.CidrIp, r.IpProtocol, r.FromPort, r.ToPort]),
      [['0.0.0.0/0', 'tcp', 443, 443]],
    );
  });
});

describe('Fargate task', () => {
  test('runs on ARM64 Linux with the stage task size', () => {
    prod.service.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RequiresCompatibilities: ['FARGATE'],
      NetworkMode: 'awsvpc',
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      Cpu: '512',
      Memory: '1024',
    });
    dev.service.hasResourceProperties('AWS::ECS::TaskDefinition', { Cpu: '256', Memory: '512' });
  });

  test('the image is relay/Dockerfile built for linux/arm64 from the repository root', () => {
    const manifest = prod.assembly.artifacts.find(
      (artifact): artifact is AssetManifestArtifact =>
        artifact instanceof AssetManifestArtifact && artifact.id === `${prod.relay.service.stackName}.assets`,
    );
    assert.ok(manifest, 'asset manifest of the service stack');
    const { dockerImages } = JSON.parse(readFileSync(manifest.file, 'utf8')) as {
      dockerImages: Record<string, { source: { dockerFile: string; platform: string } }>;
    };
    const images = Object.values(dockerImages);
    assert.equal(images.length, 1);
    assert.equal(images[0]!.source.dockerFile, 'relay/Dockerfile');
    assert.equal(images[0]!.source.platform, 'linux/arm64');
  });

  test('the container is hardened: read-only root, uid 1000, no capabilities, init process', () => {
    prod.service.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Name: 'relay',
          Essential: true,
          ReadonlyRootFilesystem: true,
          User: '1000:1000',
          LinuxParameters: { Capabilities: { Drop: ['ALL'] }, InitProcessEnabled: true },
        }),
      ],
    });
    const container = resourceById(prod.service, 'AWS::ECS::TaskDefinition', 'RelayServiceTask').resource.Properties
      .ContainerDefinitions[0];
    assert.equal(container.MountPoints, undefined, 'no volume: the relay writes nothing to disk');
    assert.equal(container.Privileged, undefined);
  });

  test('stop timeout is the grace time plus 10 s, within the 120 s ECS limit', () => {
    prod.service.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ StopTimeout: 100 })],
    });
    dev.service.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ StopTimeout: 40 })],
    });
  });

  test('listens on 2587, 2465 and 8080', () => {
    prod.service.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          PortMappings: [
            { ContainerPort: 2587, Name: 'submission', Protocol: 'tcp' },
            { ContainerPort: 2465, Name: 'submissions', Protocol: 'tcp' },
            { ContainerPort: 8080, Name: 'health', Protocol: 'tcp' },
          ],
        }),
      ],
    });
  });

  test('gets the environment the relay reads', () => {
    const container = resourceById(prod.service, 'AWS::ECS::TaskDefinition', 'RelayServiceTask').resource.Properties
      .ContainerDefinitions[0];
    const env = Object.fromEntries(
      container.Environment.map((e: { Name: string; Value: unknown }) => [e.Name, e.Value]),
    );
    assert.deepEqual(Object.keys(env).sort(), [
      'COUNTERS_TABLE',
      'HEALTH_PORT',
      'LOG_LEVEL',
      'MAX_MESSAGE_BYTES',
      'MESSAGE_MEMORY_BUDGET_BYTES',
      'METRICS_NAMESPACE',
      'POLICY_FUNCTION_NAME',
      'POLICY_TIMEOUT_SECONDS',
      'QUOTA_FALLBACK_TASKS',
      'RELAY_HOSTNAME',
      'RELAY_LISTEN',
      'SES_CONFIGURATION_SET',
      'SES_REGION',
      'SES_THROTTLE_RETRIES',
      'SES_TIMEOUT_SECONDS',
      'SHUTDOWN_GRACE_SECONDS',
      'STAGE',
      'SUBMISSIONS_PORT',
      'SUBMISSION_PORT',
      'USERS_TABLE',
    ]);
    assert.equal(env.SUBMISSION_PORT, '2587');
    assert.equal(env.SUBMISSIONS_PORT, '2465');
    assert.equal(env.HEALTH_PORT, '8080');
    assert.equal(env.RELAY_LISTEN, '0.0.0.0');
    assert.equal(env.RELAY_HOSTNAME, 'smtp.example.com');
    assert.equal(env.SES_CONFIGURATION_SET, 'submission-relay-prod');
    assert.deepEqual(env.SES_REGION, { Ref: 'AWS::Region' });
    assert.equal(env.MAX_MESSAGE_BYTES, '26214400');
    // Half of the task's 1024 MiB; the fallback share of a limit is 1/maxCount (6).
    assert.equal(env.MESSAGE_MEMORY_BUDGET_BYTES, '536870912');
    assert.equal(env.QUOTA_FALLBACK_TASKS, '6');
    assert.equal(env.SHUTDOWN_GRACE_SECONDS, '90');
    // All SES attempts of a message in flight end inside the grace period.
    assert.ok((Number(env.SES_THROTTLE_RETRIES) + 1) * Number(env.SES_TIMEOUT_SECONDS) + 1 <= 90, `${env.SES_TIMEOUT_SECONDS} s`);
    assert.equal(env.POLICY_TIMEOUT_SECONDS, '12');
    assert.equal(env.METRICS_NAMESPACE, 'SubmissionRelay');
    assert.equal(env.STAGE, 'prod');
    assert.equal(env.LOG_LEVEL, 'info');
    assert.match(env.POLICY_FUNCTION_NAME.Ref, /^RelayPolicyFunction/);
    assert.equal(env.COUNTERS_TABLE['Fn::GetStackOutput'].StackName, 'SubmissionRelay-prod-Data');
    assert.match(env.COUNTERS_TABLE['Fn::GetStackOutput'].OutputName, /Counters/);
    assert.match(env.USERS_TABLE['Fn::GetStackOutput'].OutputName, /Users/);
    for (const value of Object.values(env)) {
      assert.doesNotMatch(JSON.stringify(value), /BEGIN|PRIVATE KEY/, 'no key material in the environment');
    }
  });

  test('takes the certificate and key from the Secrets Manager secret\'s JSON keys', () => {
    const container = resourceById(prod.service, 'AWS::ECS::TaskDefinition', 'RelayServiceTask').resource.Properties
      .ContainerDefinitions[0];
    const secrets = Object.fromEntries(
      container.Secrets.map((s: { Name: string; ValueFrom: { 'Fn::Join': [string, unknown[]] } }) => [
        s.Name,
        s.ValueFrom['Fn::Join'][1],
      ]),
    );
    assert.deepEqual(Object.keys(secrets).sort(), ['TLS_CERT_PEM', 'TLS_KEY_PEM']);
    for (const [name, key] of [
      ['TLS_CERT_PEM', ':certificate::'],
      ['TLS_KEY_PEM', ':privateKey::'],
    ] as const) {
      const [arn, suffix] = secrets[name] as [{ 'Fn::GetStackOutput': { StackName: string; OutputName: string } }, string];
      assert.equal(suffix, key);
      assert.equal(arn['Fn::GetStackOutput'].StackName, 'SubmissionRelay-prod-Data');
      assert.match(arn['Fn::GetStackOutput'].OutputName, /TlsCertificate/);
    }
  });

  test('logs to its own log group, non-blocking, with the stage retention', () => {
    prod.service.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          LogConfiguration: {
            LogDriver: 'awslogs',
            Options: Match.objectLike({
              'awslogs-group': { Ref: Match.stringLikeRegexp('^RelayServiceLogs') },
              'awslogs-stream-prefix': 'relay',
              mode: 'non-blocking',
            }),
          },
        }),
      ],
    });
    for (const [synth, days, policy] of [
      [prod, 365, 'Retain'],
      [dev, 7, 'Delete'],
    ] as const) {
      const { resource } = resourceById(synth.service, 'AWS::Logs::LogGroup', 'RelayServiceLogs');
      assert.equal(resource.Properties.RetentionInDays, days);
      assert.equal(resource.DeletionPolicy, policy);
    }
  });
});

describe('Fargate service', () => {
  test('runs in the public subnets with public IPs and the task security group', () => {
    prod.service.hasResourceProperties('AWS::ECS::Service', {
      LaunchType: 'FARGATE',
      NetworkConfiguration: {
        AwsvpcConfiguration: {
          AssignPublicIp: 'ENABLED',
          SecurityGroups: [{ 'Fn::GetAtt': [Match.stringLikeRegexp('^RelayServiceTaskSecurityGroup'), 'GroupId'] }],
          Subnets: Match.arrayWith([{ Ref: Match.stringLikeRegexp('publicSubnet1') }]),
        },
      },
    });
  });

  test('deploys without dropping capacity and rolls back a failing deployment', () => {
    prod.service.hasResourceProperties('AWS::ECS::Service', {
      DeploymentConfiguration: {
        MinimumHealthyPercent: 100,
        MaximumPercent: 200,
        DeploymentCircuitBreaker: { Enable: true, Rollback: true },
      },
      HealthCheckGracePeriodSeconds: 60,
    });
  });

  test('registers the container ports with both target groups', () => {
    prod.service.hasResourceProperties('AWS::ECS::Service', {
      LoadBalancers: [
        { ContainerName: 'relay', ContainerPort: 2587, TargetGroupArn: { Ref: Match.stringLikeRegexp('^RelayServiceSubmissionTargets') } },
        { ContainerName: 'relay', ContainerPort: 2465, TargetGroupArn: { Ref: Match.stringLikeRegexp('^RelayServiceSubmissionsTargets') } },
      ],
    });
  });

  test('sets no DesiredCount, so a deployment never resets what autoscaling reached', () => {
    const { resource } = resourceById(prod.service, 'AWS::ECS::Service', 'RelayService');
    assert.equal(resource.Properties.DesiredCount, undefined);
  });

  test('autoscales between the stage minimum (2 in prod) and maximum', () => {
    prod.service.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', {
      ScalableDimension: 'ecs:service:DesiredCount',
      MinCapacity: 2,
      MaxCapacity: 6,
    });
    dev.service.hasResourceProperties('AWS::ApplicationAutoScaling::ScalableTarget', { MinCapacity: 1, MaxCapacity: 2 });
  });

  test('scales on CPU and on open connections per task', () => {
    prod.service.resourceCountIs('AWS::ApplicationAutoScaling::ScalingPolicy', 2);
    prod.service.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        PredefinedMetricSpecification: { PredefinedMetricType: 'ECSServiceAverageCPUUtilization' },
        TargetValue: 60,
      },
    });
    prod.service.hasResourceProperties('AWS::ApplicationAutoScaling::ScalingPolicy', {
      PolicyType: 'TargetTrackingScaling',
      TargetTrackingScalingPolicyConfiguration: {
        CustomizedMetricSpecification: {
          Namespace: 'SubmissionRelay',
          MetricName: 'Connections',
          Dimensions: [{ Name: 'Stage', Value: 'prod' }],
          Statistic: 'Average',
        },
        TargetValue: 200,
      },
    });
  });

  test('Container Insights is on in prod, off in dev', () => {
    prod.service.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
    dev.service.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'disabled' }],
    });
  });
});
