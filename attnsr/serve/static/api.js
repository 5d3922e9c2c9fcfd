// The API reference, rendered in the browser from the server's own OpenAPI schema (nothing from elsewhere).
"use strict";

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function fields(op) {
  const schema = op.requestBody?.content?.["multipart/form-data"]?.schema;
  if (!schema) return null;
  const list = el("ul", "fields");
  const required = new Set(schema.required || []);
  for (const [name, f] of Object.entries(schema.properties || {})) {
    const def = f.default !== undefined ? ` (default ${JSON.stringify(f.default)})` : "";
    const kind = f.enum ? f.enum.join(" | ") : f.format || f.type;
    list.append(el("li", "", `${name}${required.has(name) ? " *" : ""}: ${kind}${def} — ${f.description || ""}`));
  }
  return list;
}

function render(spec) {
  document.getElementById("intro").textContent = `${spec.info.title} ${spec.info.version}: ${spec.info.description}`;
  const root = document.getElementById("endpoints");
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      const box = el("section", "endpoint");
      const head = el("h2");
      head.append(el("code", "method", method.toUpperCase()), " ", el("code", "", path), " ", el("span", "hint", op.summary || ""));
      box.append(head);
      const form = fields(op);
      if (form) { box.append(el("p", "", "multipart/form-data fields (* required):"), form); }
      const codes = el("ul", "codes");
      for (const [code, r] of Object.entries(op.responses || {})) {
        const types = Object.keys(r.content || {}).join(", ");
        codes.append(el("li", "", `${code}: ${r.description || ""}${types ? ` [${types}]` : ""}`));
      }
      box.append(codes);
      root.append(box);
    }
  }
}

document.addEventListener("DOMContentLoaded", () => {
  fetch("/openapi.json").then((r) => r.json()).then(render).catch((err) => {
    document.getElementById("intro").textContent = `cannot load /openapi.json: ${err.message}`;
  });
});
