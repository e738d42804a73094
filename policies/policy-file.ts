import { z } from "zod";
import { policySchema, type PolicySpec } from "./policy-model.js";
import { parseYaml } from "./yaml-doc.js";

export const policyFileSchema = z
  .strictObject({ policies: z.array(policySchema) })
  .superRefine(
    (file, ctx) => {
      const seen = new Map<string, number>();
      // Read defensively: with `when` this also runs when some policies failed validation.
      const policies: unknown[] = Array.isArray(file.policies) ? file.policies : [];
      policies.forEach((p, i) => {
        const name = nameOf(p);
        if (name === null) return;
        const first = seen.get(name);
        if (first === undefined) seen.set(name, i);
        else
          ctx.addIssue({
            code: "custom",
            message: `duplicate policy name "${name}": policies[${first}] already uses it`,
            path: ["policies", i, "name"],
            input: name,
          });
      });
    },
    // Report a duplicate together with the file's other problems, not only once they are fixed.
    { when: (payload) => typeof payload.value === "object" && payload.value !== null },
  )
  .transform((file): PolicySpec[] => file.policies);

function nameOf(value: unknown): string | null {
  if (typeof value !== "object" || value === null || !("name" in value)) return null;
  return typeof value.name === "string" ? value.name : null;
}

/** Reads a policy file (`jitgate policies apply`); throws ValidationError naming every problem. */
export function parsePolicyFile(text: string, file: string): PolicySpec[] {
  return parseYaml(text, file, policyFileSchema);
}
