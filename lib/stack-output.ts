import { CfnOutput } from 'aws-cdk-lib';
import type { Construct } from 'constructs';

/**
 * A stack output whose name is exactly `name`, wherever in the tree it is made:
 * CDK would otherwise name it after its construct path plus a hash
 * (`RelayLoadBalancerDnsName9A69EC1C`), and the documented
 * `describe-stacks --query "Stacks[0].Outputs[?OutputKey=='<name>']"` lines
 * would find nothing. Names must be unique within their stack.
 */
export function stackOutput(scope: Construct, name: string, description: string, value: string): CfnOutput {
  const output = new CfnOutput(scope, name, { description, value });
  output.overrideLogicalId(name);
  return output;
}
