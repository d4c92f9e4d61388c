// The subset of OpenAPI v3 / JSON Schema our CRDs use. One definition per kind drives the
// CRD YAML (openAPIV3Schema), the TypeScript types and runtime structural validation.
export interface Schema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean' | 'number';
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema;
  enum?: (string | number | boolean)[];
  default?: unknown;
  format?: string;
  minimum?: number;
  maximum?: number;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'date' | 'number';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface KindDefinition {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  scope: 'Namespaced' | 'Cluster';
  /** the object's own top-level fields besides apiVersion/kind/metadata */
  fields: Record<string, Schema>;
  required?: string[];
  printerColumns: PrinterColumn[];
  description: string;
}

export const GROUP = 'egressgateway.spidernet.io';
export const VERSION = 'v1beta1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const str = (description?: string, extra: Partial<Schema> = {}): Schema => ({
  type: 'string',
  ...(description ? { description } : {}),
  ...extra,
});
export const bool = (description?: string, extra: Partial<Schema> = {}): Schema => ({
  type: 'boolean',
  ...(description ? { description } : {}),
  ...extra,
});
export const int = (description?: string, extra: Partial<Schema> = {}): Schema => ({
  type: 'integer',
  ...(description ? { description } : {}),
  ...extra,
});
export const arr = (items: Schema, description?: string): Schema => ({
  type: 'array',
  items,
  ...(description ? { description } : {}),
});
export const obj = (
  properties: Record<string, Schema>,
  description?: string,
  required?: string[],
): Schema => ({
  type: 'object',
  properties,
  ...(description ? { description } : {}),
  ...(required ? { required } : {}),
});

/** metav1.LabelSelector, as Kubernetes publishes it. */
export const labelSelector = (description: string): Schema =>
  obj(
    {
      matchExpressions: arr(
        obj(
          {
            key: str('the label key that the selector applies to'),
            operator: str('In, NotIn, Exists or DoesNotExist'),
            values: arr(str()),
          },
          undefined,
          ['key', 'operator'],
        ),
      ),
      matchLabels: { type: 'object', additionalProperties: { type: 'string' } },
    },
    description,
  );
