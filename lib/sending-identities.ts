import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as route53 from 'aws-cdk-lib/aws-route53';
import * as ses from 'aws-cdk-lib/aws-ses';
import { Construct } from 'constructs';
import { stackOutput } from './stack-output.ts';

/** One domain the relay's users send from. */
export interface SendingIdentitySpec {
  /** Domain of the From and envelope-sender addresses, e.g. `example.com`. */
  readonly domain: string;
  /**
   * Public hosted zone holding `domain` (the domain's own zone or a parent's).
   * When given, the Easy DKIM CNAMEs and the MAIL FROM MX/SPF records are created
   * in it; otherwise they are printed as stack outputs to be added by hand.
   * @default - no DNS records are created
   */
  readonly hostedZone?: route53.IPublicHostedZone;
  /**
   * Label of the custom MAIL FROM domain under `domain` (`bounce` gives
   * `bounce.example.com`), so that SPF aligns with the From domain for DMARC.
   * @default - SES's own MAIL FROM domain (amazonses.com); DMARC then passes on DKIM alone
   */
  readonly mailFromSubdomain?: string;
}

/** What the relay needs of the sending setup: names, and the one permission to send. */
export interface ISendingIdentities {
  /** The verified sending domains. */
  readonly domains: readonly string[];
  /** Name of the configuration set every message is sent with. */
  readonly configurationSetName: string;
  /**
   * `ses:SendRawEmail` (which authorizes SES v2 SendEmail with raw content) on
   * each identity and the configuration set, and only for From addresses in that
   * identity's domain.
   */
  grantSendRawEmail(grantee: iam.IGrantable, options?: SendRawEmailGrantOptions): iam.Grant;
}

export interface SendRawEmailGrantOptions {
  /**
   * Also allow the send on any identity of the account, with the same From
   * condition: in the SES sandbox, SES authorizes a send against the verified
   * recipient identities as well, and an identity-scoped grant refuses mail to
   * a verified test recipient.
   * @default false
   */
  readonly anyRecipientIdentity?: boolean;
}

export interface SendingIdentitiesProps {
  /** The domains to verify and send from. */
  readonly identities: readonly SendingIdentitySpec[];
  /** Name of the configuration set, e.g. `submission-relay-prod`. */
  readonly configurationSetName: string;
  /**
   * Further configuration sets (made elsewhere) the relay may send with: those
   * given to users with `relayctl user set --configuration-set`. SES checks
   * `ses:SendRawEmail` on the configuration set of each send, so a user's set
   * that is not listed here makes SES refuse that user's mail.
   * @default - none: only `configurationSetName`
   */
  readonly additionalConfigurationSetNames?: readonly string[];
  /**
   * Keep the identities and the configuration set when the stack is deleted, so
   * that a verified domain and its reputation survive a teardown.
   * @default true
   */
  readonly retain?: boolean;
}

/** SES events published to CloudWatch through the configuration set. */
export const PUBLISHED_SES_EVENTS = [
  ses.EmailSendingEvent.SEND,
  ses.EmailSendingEvent.REJECT,
  ses.EmailSendingEvent.BOUNCE,
  ses.EmailSendingEvent.COMPLAINT,
  ses.EmailSendingEvent.DELIVERY_DELAY,
] as const;

/** CloudWatch dimension SES puts on the configuration set's event metrics (SES auto-tag). */
export const SES_CONFIGURATION_SET_DIMENSION = 'ses:configuration-set';

/**
 * The SES side of the relay: one domain identity per sending domain with Easy
 * DKIM (2048-bit), an optional custom MAIL FROM domain, and a configuration set
 * that publishes sends, rejects, bounces, complaints and delivery delays to
 * CloudWatch (namespace `AWS/SES`, dimension `ses:configuration-set`) and keeps
 * SES reputation metrics for it.
 */
export class SendingIdentities extends Construct implements ISendingIdentities {
  readonly domains: readonly string[];
  readonly configurationSetName: string;
  /** Every configuration set the relay may send with: its own first, then the additional ones. */
  readonly sendableConfigurationSetNames: readonly string[];
  readonly configurationSet: ses.ConfigurationSet;
  /** The identities, by domain. */
  readonly identities: ReadonlyMap<string, ses.EmailIdentity>;

  constructor(scope: Construct, id: string, props: SendingIdentitiesProps) {
    super(scope, id);
    if (props.identities.length === 0) throw new Error('SendingIdentities needs at least one domain');
    const removalPolicy = (props.retain ?? true) ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    this.domains = props.identities.map((identity) => identity.domain);
    this.configurationSetName = props.configurationSetName;
    this.sendableConfigurationSetNames = [
      props.configurationSetName,
      ...(props.additionalConfigurationSetNames ?? []).filter((name) => name !== props.configurationSetName),
    ];

    this.configurationSet = new ses.ConfigurationSet(this, 'ConfigurationSet', {
      configurationSetName: props.configurationSetName,
      reputationMetrics: true,
      sendingEnabled: true,
      suppressionReasons: ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
    });
    this.configurationSet.applyRemovalPolicy(removalPolicy);
    this.configurationSet.addEventDestination('CloudWatch', {
      configurationSetEventDestinationName: 'cloudwatch',
      destination: ses.EventDestination.cloudWatchDimensions([
        {
          name: SES_CONFIGURATION_SET_DIMENSION,
          source: ses.CloudWatchDimensionSource.MESSAGE_TAG,
          defaultValue: props.configurationSetName,
        },
      ]),
      events: [...PUBLISHED_SES_EVENTS],
    });

    const identities = new Map<string, ses.EmailIdentity>();
    for (const spec of props.identities) {
      identities.set(spec.domain, this.addIdentity(spec, removalPolicy));
    }
    this.identities = identities;
  }

  grantSendRawEmail(grantee: iam.IGrantable, options: SendRawEmailGrantOptions = {}): iam.Grant {
    const stack = Stack.of(this);
    const configurationSetArns = this.sendableConfigurationSetNames.map((name) =>
      stack.formatArn({ service: 'ses', resource: 'configuration-set', resourceName: name }),
    );
    // One statement per domain: a From address may use its own domain's identity
    // only. IAM string matching is case-sensitive, so the relay must hand SES the
    // sender with its domain in lower case (as the policy function normalises it).
    let grant: iam.Grant | undefined;
    for (const domain of this.domains) {
      const next = iam.Grant.addToPrincipal({
        grantee,
        actions: ['ses:SendRawEmail'],
        resourceArns: [
          stack.formatArn({ service: 'ses', resource: 'identity', resourceName: domain }),
          ...configurationSetArns,
        ],
        conditions: { StringLike: { 'ses:FromAddress': `*@${domain}` } },
      });
      grant = grant ? grant.combine(next) : next;
    }
    if (options.anyRecipientIdentity) {
      grant = grant!.combine(
        iam.Grant.addToPrincipal({
          grantee,
          actions: ['ses:SendRawEmail'],
          resourceArns: [stack.formatArn({ service: 'ses', resource: 'identity', resourceName: '*' })],
          conditions: { StringLike: { 'ses:FromAddress': this.domains.map((domain) => `*@${domain}`) } },
        }),
      );
    }
    return grant as iam.Grant;
  }

  private addIdentity(spec: SendingIdentitySpec, removalPolicy: RemovalPolicy): ses.EmailIdentity {
    const id = constructIdFor(spec.domain);
    const mailFromDomain = spec.mailFromSubdomain ? `${spec.mailFromSubdomain}.${spec.domain}` : undefined;
    const identity = new ses.EmailIdentity(this, id, {
      identity: ses.Identity.domain(spec.domain),
      dkimIdentity: ses.DkimIdentity.easyDkim(ses.EasyDkimSigningKeyLength.RSA_2048_BIT),
      dkimSigning: true,
      configurationSet: this.configurationSet,
      ...(mailFromDomain
        ? { mailFromDomain, mailFromBehaviorOnMxFailure: ses.MailFromBehaviorOnMxFailure.USE_DEFAULT_VALUE }
        : {}),
    });
    identity.applyRemovalPolicy(removalPolicy);

    const region = Stack.of(this).region;
    const mailFromMx = `10 feedback-smtp.${region}.amazonses.com`;
    const mailFromSpf = 'v=spf1 include:amazonses.com ~all';
    if (spec.hostedZone) {
      identity.dkimRecords.forEach((record, index) => {
        // The token name is already fully qualified (a deploy-time value), so the
        // L1 record: the L2 would append the zone name to it a second time.
        new route53.CfnRecordSet(this, `${id}Dkim${index + 1}`, {
          hostedZoneId: spec.hostedZone!.hostedZoneId,
          name: record.name,
          type: 'CNAME',
          resourceRecords: [record.value],
          ttl: '3600',
        });
      });
      if (mailFromDomain) {
        new route53.MxRecord(this, `${id}MailFromMx`, {
          zone: spec.hostedZone,
          recordName: mailFromDomain,
          values: [{ priority: 10, hostName: `feedback-smtp.${region}.amazonses.com` }],
          ttl: Duration.hours(1),
        });
        new route53.TxtRecord(this, `${id}MailFromSpf`, {
          zone: spec.hostedZone,
          recordName: mailFromDomain,
          values: [mailFromSpf],
          ttl: Duration.hours(1),
        });
      }
    } else {
      identity.dkimRecords.forEach((record, index) => {
        stackOutput(this, `${id}DkimRecord${index + 1}`, `DKIM CNAME ${index + 1} of 3 for ${spec.domain}: add to DNS to verify the identity`, `${record.name} CNAME ${record.value}`);
      });
      if (mailFromDomain) {
        stackOutput(this, `${id}MailFromMxRecord`, `MAIL FROM MX record for ${mailFromDomain}`, `${mailFromDomain} MX ${mailFromMx}`);
        stackOutput(this, `${id}MailFromSpfRecord`, `MAIL FROM SPF record for ${mailFromDomain}`, `${mailFromDomain} TXT "${mailFromSpf}"`);
      }
    }
    return identity;
  }
}

/** `mail.example.com` → `MailExampleCom`: a stable construct id per domain. */
function constructIdFor(domain: string): string {
  return domain
    .split(/[.-]/)
    .filter(Boolean)
    .map((part) => part[0]!.toUpperCase() + part.slice(1))
    .join('');
}
