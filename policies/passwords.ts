// Password hashing for gateway users: argon2id with OWASP's recommended minimum cost.
import { hash, verify, Algorithm } from "@node-rs/argon2";
import { randomBytes } from "node:crypto";
import { invalid } from "./errors.js";

const OPTIONS = { algorithm: Algorithm.Argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;
export const MIN_PASSWORD_LENGTH = 12;
const MAX_PASSWORD_LENGTH = 1024;

export function checkPasswordStrength(password: unknown): string {
  if (typeof password !== "string") throw invalid("INVALID_PASSWORD", "password must be text");
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw invalid("WEAK_PASSWORD", `password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.length > MAX_PASSWORD_LENGTH) throw invalid("INVALID_PASSWORD", `password is longer than ${MAX_PASSWORD_LENGTH} characters`);
  return password;
}

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

// Verifying against a fixed hash when the user is unknown keeps the response time of
// "no such user" equal to "wrong password", so timing does not reveal who exists.
let dummyHash: Promise<string> | null = null;
export async function burnPasswordCheck(password: string): Promise<void> {
  dummyHash ??= hashPassword(randomBytes(16).toString("hex"));
  await verifyPassword(await dummyHash, password);
}

export function generatePassword(): string {
  return randomBytes(18).toString("base64url");
}
