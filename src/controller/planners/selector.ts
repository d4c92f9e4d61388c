// Kubernetes label-selector matching with the semantics of metav1.LabelSelectorAsSelector:
// - an absent selector (undefined / null) selects NOTHING (labels.Nothing());
// - an empty selector ({} — no matchLabels and no matchExpressions) selects EVERYTHING;
// - otherwise every matchLabels pair AND every matchExpression must hold.
// A selector that LabelSelectorAsSelector would refuse with an error (unknown operator, In/NotIn
// without values, Exists/DoesNotExist with values, an invalid label key or value) selects
// nothing: callers upstream treat the error as "no match", and the webhook refuses such objects.

export interface LabelSelectorRequirement {
  key: string;
  /** In, NotIn, Exists or DoesNotExist */
  operator: string;
  values?: string[];
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

const NAME_RE = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_LABEL_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function isDnsSubdomain(text: string): boolean {
  return text.length > 0 && text.length <= 253 && text.split('.').every((l) => DNS_LABEL_RE.test(l));
}

/** A qualified name as label keys use it: optional "<dns-subdomain>/" prefix, then a name ≤ 63. */
export function isValidLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (slash >= 0 && !isDnsSubdomain(key.slice(0, slash))) return false;
  return name.length > 0 && name.length <= 63 && NAME_RE.test(name);
}

/** A label value: empty, or ≤ 63 characters of [A-Za-z0-9-_.] starting and ending alphanumeric. */
export function isValidLabelValue(value: string): boolean {
  return value === '' || (value.length <= 63 && NAME_RE.test(value));
}

/**
 * Whether the selector is one LabelSelectorAsSelector accepts. Exported so that callers (and the
 * webhook) can tell "matches nothing because invalid" from "matches nothing because no labels".
 */
export function isValidSelector(selector: LabelSelector): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (!isValidLabelKey(k) || typeof v !== 'string' || !isValidLabelValue(v)) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    if (typeof e?.key !== 'string' || !isValidLabelKey(e.key)) return false;
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) return false;
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) return false;
        break;
      default:
        return false;
    }
    if (!values.every((v) => typeof v === 'string' && isValidLabelValue(v))) return false;
  }
  return true;
}

export function matchesSelector(
  selector: LabelSelector | null | undefined,
  labels: Record<string, string> | null | undefined,
): boolean {
  if (selector === undefined || selector === null) return false;
  if (!isValidSelector(selector)) return false;
  const have = labels ?? {};
  const has = (k: string) => Object.hasOwn(have, k);
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (!has(k) || have[k] !== v) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
        if (!has(e.key) || !values.includes(have[e.key] as string)) return false;
        break;
      case 'NotIn':
        // A missing key satisfies NotIn (labels.Requirement.Matches).
        if (has(e.key) && values.includes(have[e.key] as string)) return false;
        break;
      case 'Exists':
        if (!has(e.key)) return false;
        break;
      case 'DoesNotExist':
        if (has(e.key)) return false;
        break;
    }
  }
  return true;
}
