// @vitest-environment node
// The API types are generated from schemas/openapi.json (npm run gen:api); this fails when the
// committed src/api/schema.d.ts is not what the generator makes of the committed document, i.e.
// when the API changed and the types were not regenerated.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString, COMMENT_HEADER } from "openapi-typescript";
import { expect, test } from "vitest";

const document = new URL("../../../schemas/openapi.json", import.meta.url);
const generated = new URL("./schema.d.ts", import.meta.url);

test("src/api/schema.d.ts is generated from schemas/openapi.json (run npm run gen:api)", async () => {
  const expected = `${COMMENT_HEADER}${astToString(await openapiTS(document))}`;
  const actual = readFileSync(fileURLToPath(generated), "utf8");
  expect(
    actual === expected,
    "schema.d.ts differs from the OpenAPI document: npm run gen:api",
  ).toBe(true);
}, 30_000);

test("the types name every route of the document", () => {
  const paths = Object.keys(
    JSON.parse(readFileSync(fileURLToPath(document), "utf8")).paths as object,
  );
  const text = readFileSync(fileURLToPath(generated), "utf8");
  for (const p of paths) expect(text).toContain(`"${p}": {`);
});
