import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * What every function of the relay shares: Node 22 on ARM64 (as the relay
 * container, with which they share code), JSON logs at INFO, and a bundle made
 * by the local esbuild (synth never needs Docker) that carries the AWS SDK the
 * tests ran against rather than whatever the runtime ships.
 */
export const RELAY_FUNCTION_DEFAULTS = {
  runtime: lambda.Runtime.NODEJS_22_X,
  architecture: lambda.Architecture.ARM_64,
  loggingFormat: lambda.LoggingFormat.JSON,
  applicationLogLevelV2: lambda.ApplicationLogLevel.INFO,
  systemLogLevelV2: lambda.SystemLogLevel.WARN,
  bundling: {
    forceDockerBundling: false,
    target: 'node22',
    format: nodejs.OutputFormat.CJS,
    minify: true,
    sourceMap: true,
    sourcesContent: false,
    bundleAwsSDK: true,
  },
} as const satisfies Partial<nodejs.NodejsFunctionProps>;

export interface RelayFunctionProps {
  /** The handler's entry file (export `handler`). */
  readonly entry: string;
  /** What the function is for, on the function and its role. */
  readonly description: string;
  readonly memorySize?: number;
  readonly timeout: Duration;
  readonly environment?: Readonly<Record<string, string>>;
  readonly reservedConcurrency?: number;
  /**
   * Retention of the function's log group.
   * @default logs.RetentionDays.ONE_YEAR
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * What happens to the log group when it is removed from the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/**
 * The house Lambda function: Node 22 on ARM64, bundled with the local esbuild
 * (synth never needs Docker; the AWS SDK is bundled at the version the tests
 * ran against), its own role with no managed policy (it may write its own log
 * group, and whatever its owner grants), JSON logs in a log group with the
 * stage's retention.
 */
export class RelayFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: RelayFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: props.description,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry: props.entry,
      handler: 'handler',
      ...RELAY_FUNCTION_DEFAULTS,
      memorySize: props.memorySize ?? 256,
      timeout: props.timeout,
      reservedConcurrentExecutions: props.reservedConcurrency,
      role: this.role,
      logGroup: this.logGroup,
      environment: { ...props.environment, NODE_OPTIONS: '--enable-source-maps' },
      description: props.description,
    });
    Validations.of(this.function).acknowledge({
      id: 'AwsSolutions-L1',
      reason:
        'Node.js 22 on purpose: the relay container runs Node 22 (LTS, supported until April 2027) and the functions share code with it; runtime upgrades are made for all of them together.',
    });
  }
}
