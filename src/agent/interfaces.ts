// Which interfaces the agent uses, from upstream's per-node values (pure):
// - `tunnelDetectCustomInterface`: the first entry whose nodeSelector matches this node's
//   labels (every key, exact value) names the tunnel's parent interface on this node;
// - `announcedInterfacesToExclude`: EIPs are never announced (ARP/NDP) on an interface whose
//   name matches one of the regexps. Like upstream they are unanchored, so the chart default
//   `br-*` matches any name containing "br" (br0, vmbr0 too): see docs/values.md.

export interface CustomInterface {
  nodeSelector: Record<string, string>;
  interfaceName: string;
}

/**
 * The parent detection method for this node: `interface=<name>` of the first matching
 * custom entry, else the configured method. Unlike upstream, an entry also applies when the
 * method is `defaultRouteInterface` (upstream ignores the entries silently then).
 */
export function parentMethod(
  method: string,
  custom: readonly CustomInterface[],
  nodeLabels: Readonly<Record<string, string>>,
): string {
  const hit = custom.find((c) => Object.entries(c.nodeSelector).every(([k, v]) => nodeLabels[k] === v));
  return hit ? `interface=${hit.interfaceName}` : method;
}

/** The regexp of `announcedInterfacesToExclude` (already validated at start), or undefined if empty. */
export function excludedInterfaces(patterns: readonly string[]): RegExp | undefined {
  return patterns.length ? new RegExp(patterns.map((p) => `(?:${p})`).join('|')) : undefined;
}
