import { mintManagementToken } from "../src/auth/tokens.ts";
import { loadIdentity } from "../src/config/identity.ts";

/**
 * A bench's client of a running `tapedeck serve`: the app identity from its data folder and a POST
 * helper with a management token that fails loudly on any refusal.
 */
export async function benchApi(baseUrl: string, dataDir: string) {
  const { identity } = loadIdentity(dataDir);
  const mgmt = await mintManagementToken(identity);
  const post = async (p: string, body: unknown) => {
    const res = await fetch(baseUrl + p, {
      method: "POST",
      headers: { authorization: `Bearer ${mgmt}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`POST ${p}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  return { identity, post };
}
