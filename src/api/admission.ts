// One admission decision: the webhook's pure core. Dispatches an AdmissionRequest to the
// kind's rules and returns what the AdmissionReview response needs.
import { mutateGateway, mutatePolicy, type PatchOp } from './defaulting/mutate.ts';
import { GROUP } from './schema/json-schema.ts';
import type { EgressClusterInfo, EgressGateway } from './types.generated.ts';
import { validateClusterInfo } from './validation/cluster-info.ts';
import type { AdmissionContext, Operation } from './validation/context.ts';
import { validateGateway } from './validation/gateway.ts';
import { type AnyPolicy, validatePolicy } from './validation/policy.ts';

export interface AdmissionRequestLite {
  uid: string;
  kind: { group: string; version: string; kind: string };
  operation: Operation;
  name?: string;
  namespace?: string;
  object?: unknown;
  oldObject?: unknown;
}

export interface AdmissionDecision {
  allowed: boolean;
  message?: string;
  patch?: PatchOp[];
}

function asObject<T>(o: unknown): T | undefined {
  return typeof o === 'object' && o !== null ? (o as T) : undefined;
}

function deny(kind: string, name: string | undefined, problems: string[]): AdmissionDecision {
  return { allowed: false, message: `${kind} ${name ?? ''}: ${problems.join('; ')}`.replace(/ : /, ': ') };
}

export async function validate(req: AdmissionRequestLite, ctx: AdmissionContext): Promise<AdmissionDecision> {
  if (req.kind.group !== GROUP) return { allowed: true };
  const obj = asObject<{ metadata?: { name?: string } }>(req.object);
  const name = req.name || obj?.metadata?.name;
  let problems: string[] = [];
  switch (req.kind.kind) {
    case 'EgressGateway':
      problems = await validateGateway(req.operation, obj as EgressGateway, asObject(req.oldObject), ctx);
      break;
    case 'EgressPolicy':
    case 'EgressClusterPolicy':
      problems = await validatePolicy(
        req.operation,
        req.kind.kind,
        obj as AnyPolicy,
        asObject(req.oldObject),
        ctx,
      );
      break;
    case 'EgressClusterInfo':
      problems = validateClusterInfo(req.operation, asObject<EgressClusterInfo>(req.object), name ?? '');
      break;
    default:
      return { allowed: true };
  }
  return problems.length ? deny(req.kind.kind, name, problems) : { allowed: true };
}

export async function mutate(req: AdmissionRequestLite, ctx: AdmissionContext): Promise<AdmissionDecision> {
  if (req.kind.group !== GROUP) return { allowed: true };
  const obj = asObject<EgressGateway & AnyPolicy>(req.object);
  if (!obj) return { allowed: true };
  let patch: PatchOp[] = [];
  switch (req.kind.kind) {
    case 'EgressGateway':
      patch = mutateGateway(req.operation, obj, ctx);
      break;
    case 'EgressPolicy':
    case 'EgressClusterPolicy':
      patch = await mutatePolicy(req.operation, req.kind.kind, obj, ctx);
      break;
    default:
      break;
  }
  return patch.length ? { allowed: true, patch } : { allowed: true };
}
