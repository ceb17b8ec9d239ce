import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';

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
