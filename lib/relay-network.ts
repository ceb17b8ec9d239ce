import { RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface RelayNetworkProps {
  /**
   * IPv4 range of the VPC.
   * @default '10.80.0.0/16'
   */
  readonly cidr?: string;
  /**
   * How long rejected-flow logs are kept.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly flowLogRetention?: logs.RetentionDays;
  /**
   * What happens to the flow log group when it is removed from the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * A VPC over two availability zones with public subnets only and no NAT
 * gateway: the relay tasks get public IPv4 addresses and reach AWS APIs through
 * the internet gateway, behind security groups that admit only the load
 * balancer (see `RelayService`). DynamoDB traffic takes a gateway endpoint
 * (free). Rejected flows are logged, for abuse investigations.
 *
 * Why no NAT gateway: two NAT gateways (one per AZ) cost about $66/month before
 * data processing, interface endpoints for the six services the task calls
 * about $88/month; a public IPv4 address per task costs $3.65/month
 * (the README's cost table has the figures).
 */
export class RelayNetwork extends Construct {
  readonly vpc: ec2.Vpc;
  readonly flowLogGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RelayNetworkProps = {}) {
    super(scope, id);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      ipAddresses: ec2.IpAddresses.cidr(props.cidr ?? '10.80.0.0/16'),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [
        // Addresses are assigned per task by ECS (assignPublicIp), never by the subnet.
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
      ],
      restrictDefaultSecurityGroup: true,
      gatewayEndpoints: {
        DynamoDb: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
    });

    this.flowLogGroup = new logs.LogGroup(this, 'RejectedFlowLogs', {
      retention: props.flowLogRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.vpc.addFlowLog('RejectedFlows', {
      destination: ec2.FlowLogDestination.toCloudWatchLogs(this.flowLogGroup),
      trafficType: ec2.FlowLogTrafficType.REJECT,
    });
  }
}
