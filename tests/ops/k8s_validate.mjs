#!/usr/bin/env node
// Validates Kubernetes manifests offline, in three layers, and prints every
// problem found as "file: doc N (Kind/name): path: message".
//
// 1. Schema: the JSON-schema validators that the npm package
//    `kubernetes-models` compiles from the Kubernetes OpenAPI spec, and that
//    `@kubernetes-models/prometheus-operator` compiles from prometheus-operator's
//    API types (the same Go types its CRD schemas are generated from) for
//    ServiceMonitor and PrometheusRule: types, enums, formats, required fields.
// 2. Strict fields: the Kubernetes OpenAPI schemas do not forbid unknown
//    fields, and the API server silently drops them, so a misspelt
//    `readinesProbe` would pass layer 1. Each document is therefore also
//    type-checked with TypeScript against the same packages' type
//    declarations: an object literal with a property its type does not
//    declare is an error (what `kubeconform -strict` does).
// 3. Consistency: cross-object and project rules that no schema can express
//    (Service selects the DaemonSet's pods, ServiceMonitor selects the Service,
//    probe and target ports exist, the capability set and its comments,
//    PrometheusRule alerts in the mixin style, ...).
//
// Usage: node tests/ops/k8s_validate.mjs FILE.yaml...   (exit 1 on any problem)

import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, isSeq, isMap, isScalar } from "yaml";
import ts from "typescript";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const problems = [];
const problem = (where, msg) => { problems.push(`${where}: ${msg}`); };

// ---------------------------------------------------------------- loading
function modelModule(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com") {
    return `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`;
  }
  return group === "" ? `kubernetes-models/${version}/${kind}`
                      : `kubernetes-models/${group}/${version}/${kind}`;
}

const docs = []; // {file, index, obj, node, where, module}
const kustomizations = []; // {file, obj, where}: kustomize's own kind, no API schema
const givenFiles = process.argv.slice(2).map((f) => path.relative(ROOT, path.resolve(f)));
for (const file of process.argv.slice(2)) {
  const rel = path.relative(ROOT, path.resolve(file));
  const text = fs.readFileSync(file, "utf8");
  const parsed = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  const list = Array.isArray(parsed) ? parsed : [parsed];
  list.forEach((doc, index) => {
    for (const e of [...doc.errors, ...doc.warnings]) problem(`${rel}: doc ${index}`, `YAML: ${e.message}`);
    if (doc.errors.length) return;
    const obj = doc.toJS({ maxAliasCount: 0 });
    if (obj === null || obj === undefined) return; // empty document
    const where = `${rel}: doc ${index} (${obj.kind}/${obj.metadata?.name})`;
    if (typeof obj !== "object" || typeof obj.apiVersion !== "string" || typeof obj.kind !== "string") {
      problem(where, "not a Kubernetes object (apiVersion and kind must be strings)");
      return;
    }
    if (obj.apiVersion.startsWith("kustomize.config.k8s.io/")) {
      kustomizations.push({ file: rel, obj, where: `${rel}: doc ${index} (${obj.kind})` });
      return;
    }
    docs.push({ file: rel, index, obj, node: doc.contents, where, module: modelModule(obj.apiVersion, obj.kind) });
  });
}
if (docs.length === 0 && problems.length === 0) problem("k8s_validate", "no Kubernetes documents given");

// ---------------------------------------------------------------- layer 1
for (const d of docs) {
  let Model;
  try {
    Model = (await import(d.module))[d.obj.kind];
  } catch {
    Model = undefined;
  }
  if (typeof Model !== "function") {
    problem(d.where, `unknown apiVersion/kind ${d.obj.apiVersion} ${d.obj.kind} (no schema in ${d.module})`);
    d.unknown = true;
    continue;
  }
  try {
    new Model(structuredClone(d.obj)).validate();
  } catch (e) {
    const errors = e.errors ?? [{ instancePath: "", message: e.message }];
    for (const err of errors) problem(d.where, `schema: ${err.instancePath || "/"} ${err.message}`);
  }
}

// ---------------------------------------------------------------- layer 2
function strictCheck() {
  const checked = docs.filter((d) => !d.unknown);
  if (!checked.length) return;
  let source = "";
  const spans = []; // {startLine, endLine, doc, paths}
  checked.forEach((d, i) => {
    const iface = `I${d.obj.kind}`;
    source += `import type { ${iface} as T${i} } from ${JSON.stringify(d.module)};\n`;
  });
  checked.forEach((d, i) => {
    const { text, paths } = pathedLiteral(d.obj);
    const startLine = source.split("\n").length - 1;
    source += `export const doc${i}: T${i} = ${text};\n`;
    spans.push({ startLine, endLine: source.split("\n").length - 1, doc: d, paths });
  });

  const fileName = path.join(ROOT, "tests", "ops", "__k8s_strict_check__.ts");
  const options = {
    strict: true, noEmit: true, skipLibCheck: true, types: [],
    module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler,
    target: ts.ScriptTarget.ES2022,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, lang, ...rest) => name === fileName
    ? ts.createSourceFile(name, source, lang, true) : getSourceFile(name, lang, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === fileName ? source : readFile(name));

  const program = ts.createProgram([fileName], options, host);
  const sf = program.getSourceFile(fileName);
  const diags = [...program.getSyntacticDiagnostics(sf), ...program.getSemanticDiagnostics(sf)];
  for (const diag of diags) {
    const msg = ts.flattenDiagnosticMessageText(diag.messageText, " ");
    if (diag.start === undefined) { problem("strict", msg); continue; }
    const { line } = sf.getLineAndCharacterOfPosition(diag.start);
    const span = spans.find((s) => line >= s.startLine && line < s.endLine);
    if (!span) { problem("strict", `TypeScript: ${msg}`); continue; }
    const jsonPath = span.paths[line - span.startLine] ?? "/";
    problem(span.doc.where, `strict: ${jsonPath}: ${msg.replace(/'I+(?:[A-Z][A-Za-z0-9]*)'/g, (t) => t.replace(/^'I(IoK8sApi|IoK8sApimachineryPkgApis|ComGithubPrometheusOperatorPrometheusOperatorPkgApisMonitoring)?/, "'"))}`);
  }
}

// Print a JSON value as a TypeScript literal, one property or element per
// line, and record which JSON path each line holds, so that TypeScript's
// diagnostics can be reported against the manifest.
function pathedLiteral(value) {
  const lines = [];
  const paths = {};
  function emit(v, indent, jsonPath, prefix, suffix) {
    const pad = "  ".repeat(indent);
    if (v !== null && typeof v === "object") {
      const isArray = Array.isArray(v);
      const entries = isArray ? v.map((x, i) => [i, x]) : Object.entries(v);
      if (!entries.length) { paths[lines.length] = jsonPath; lines.push(pad + prefix + (isArray ? "[]" : "{}") + suffix); return; }
      paths[lines.length] = jsonPath;
      lines.push(pad + prefix + (isArray ? "[" : "{"));
      for (const [k, x] of entries) {
        emit(x, indent + 1, `${jsonPath}/${k}`, isArray ? "" : `${JSON.stringify(String(k))}: `, ",");
      }
      lines.push(pad + (isArray ? "]" : "}") + suffix);
    } else {
      paths[lines.length] = jsonPath;
      lines.push(pad + prefix + JSON.stringify(v) + suffix);
    }
  }
  emit(value, 0, "", "", "");
  return { text: lines.join("\n"), paths };
}

strictCheck();

// ---------------------------------------------------------------- layer 3
const byKind = (kind) => docs.filter((d) => d.obj.kind === kind);
const subset = (a = {}, b = {}) => Object.entries(a).every(([k, v]) => b[k] === v);
const EXPECTED_CAPS = ["SYS_ADMIN", "BPF", "PERFMON", "SYS_PTRACE", "SYS_RESOURCE"];

const namespaces = byKind("Namespace").map((d) => d.obj.metadata?.name);
for (const d of docs) {
  if (d.obj.kind === "Namespace" || d.unknown) continue;
  const ns = d.obj.metadata?.namespace;
  if (!ns) problem(d.where, "metadata.namespace is not set (everything lives in the exporter's own namespace)");
  else if (namespaces.length && !namespaces.includes(ns)) problem(d.where, `namespace ${ns} is not the one namespace.yaml creates (${namespaces})`);
}

// Find a node in the YAML AST by JSON path, to read the comments next to it.
function astAt(node, keys) {
  for (const k of keys) {
    if (isMap(node)) node = node.items.find((p) => isScalar(p.key) && p.key.value === k)?.value;
    else if (isSeq(node)) node = node.items[k];
    else return undefined;
  }
  return node;
}

for (const ds of byKind("DaemonSet")) {
  const o = ds.obj;
  const podLabels = o.spec?.template?.metadata?.labels ?? {};
  const pod = o.spec?.template?.spec ?? {};
  if (!subset(o.spec?.selector?.matchLabels, podLabels)) problem(ds.where, "spec.selector.matchLabels does not match the pod template labels");
  if (pod.hostNetwork !== true) problem(ds.where, "hostNetwork must be true (the host namespace's listeners and counters)");
  if (pod.hostPID !== true) problem(ds.where, "hostPID must be true (namespace discovery through /proc/<pid>)");
  if (!(pod.tolerations ?? []).some((t) => t.operator === "Exists" && !t.key && !t.effect)) problem(ds.where, "needs a toleration {operator: Exists} so that it runs on every node");
  const volumes = Object.fromEntries((pod.volumes ?? []).map((v) => [v.name, v]));
  ds.containers = pod.containers ?? [];
  (pod.containers ?? []).forEach((c, ci) => {
    const cw = `${ds.where}: container ${c.name}`;
    const ports = c.ports ?? [];
    const metrics = ports.find((p) => p.name === "metrics");
    if (!metrics || metrics.containerPort !== 9715) problem(cw, "needs port 9715 named `metrics`");
    if (pod.hostNetwork) for (const p of ports) if (p.hostPort !== undefined && p.hostPort !== p.containerPort) problem(cw, `hostPort ${p.hostPort} must equal containerPort ${p.containerPort} with hostNetwork`);
    const probe = (name, pathWanted) => {
      const pr = c[name]?.httpGet;
      if (!pr) return problem(cw, `${name} missing (httpGet ${pathWanted})`);
      if (pr.path !== pathWanted) problem(cw, `${name} path is ${pr.path}, want ${pathWanted}`);
      if (typeof pr.port === "string" ? !ports.some((p) => p.name === pr.port) : !ports.some((p) => p.containerPort === pr.port)) problem(cw, `${name} port ${pr.port} is not a container port`);
    };
    probe("readinessProbe", "/-/ready");
    probe("livenessProbe", "/-/healthy");
    const args = c.args ?? [];
    for (const [flag, mountPath] of [["--path.procfs", "/host/proc"], ["--path.run-netns", "/host/run/netns"], ["--path.varlog", "/host/var/log"]]) {
      if (!args.includes(`${flag}=${mountPath}`)) problem(cw, `args must include ${flag}=${mountPath}`);
      const m = (c.volumeMounts ?? []).find((vm) => vm.mountPath === mountPath);
      if (!m) problem(cw, `nothing is mounted at ${mountPath}`);
      else {
        if (m.readOnly !== true) problem(cw, `${mountPath} must be mounted readOnly`);
        if (!volumes[m.name]?.hostPath) problem(cw, `${mountPath} must come from a hostPath volume`);
      }
    }
    for (const res of ["cpu", "memory"]) {
      if (!c.resources?.requests?.[res] || !c.resources?.limits?.[res]) problem(cw, `resources.requests and resources.limits must both set ${res}`);
    }
    const sc = c.securityContext ?? {};
    if (sc.readOnlyRootFilesystem !== true) problem(cw, "securityContext.readOnlyRootFilesystem must be true");
    if (sc.privileged === true) problem(cw, "must not be privileged: grant capabilities instead");
    if (sc.runAsUser !== 0) problem(cw, "securityContext.runAsUser must be set to 0 explicitly (documented: capabilities need uid 0)");
    const drop = sc.capabilities?.drop ?? [];
    const add = sc.capabilities?.add ?? [];
    if (drop.length !== 1 || drop[0] !== "ALL") problem(cw, "capabilities.drop must be [ALL]");
    if ([...add].sort().join() !== [...EXPECTED_CAPS].sort().join()) problem(cw, `capabilities.add is [${add}], want exactly [${EXPECTED_CAPS}] (update the docs and this list together)`);
    if (add.includes("SYS_ADMIN") && sc.allowPrivilegeEscalation === false) problem(cw, "the API server rejects allowPrivilegeEscalation: false together with SYS_ADMIN");
    const addNode = astAt(ds.node, ["spec", "template", "spec", "containers", ci, "securityContext", "capabilities", "add"]);
    // The yaml library attaches the comment above a sequence's first item to
    // the sequence itself.
    (isSeq(addNode) ? addNode.items : []).forEach((item, i) => {
      const comment = item.commentBefore ?? (i === 0 ? addNode.commentBefore : undefined);
      if (!comment?.trim()) problem(cw, `capability ${item.value} has no comment saying why it is needed`);
    });
  });
  ds.podLabels = podLabels;
}

for (const svc of byKind("Service")) {
  const o = svc.obj;
  const targets = byKind("DaemonSet").filter((ds) => ds.obj.metadata?.namespace === o.metadata?.namespace && subset(o.spec?.selector, ds.podLabels));
  if (!o.spec?.selector || !targets.length) { problem(svc.where, "spec.selector matches no DaemonSet's pods"); continue; }
  for (const p of o.spec.ports ?? []) {
    const ok = targets.every((ds) => ds.containers.some((c) => (c.ports ?? []).some((cp) => (typeof p.targetPort === "string" ? cp.name === p.targetPort : cp.containerPort === (p.targetPort ?? p.port)))));
    if (!ok) problem(svc.where, `port ${p.name}: targetPort ${p.targetPort} is not a container port of the selected pods`);
  }
}

for (const sm of byKind("ServiceMonitor")) {
  const o = sm.obj;
  const nsNames = o.spec?.namespaceSelector?.matchNames ?? [o.metadata?.namespace];
  const services = byKind("Service").filter((s) => nsNames.includes(s.obj.metadata?.namespace) && subset(o.spec?.selector?.matchLabels, s.obj.metadata?.labels));
  if (!services.length) { problem(sm.where, "spec.selector / namespaceSelector match no Service"); continue; }
  for (const ep of o.spec?.endpoints ?? []) {
    if (!services.every((s) => (s.obj.spec?.ports ?? []).some((p) => p.name === ep.port))) problem(sm.where, `endpoint port ${ep.port} is not a named port of the selected Service`);
  }
}

const RUNBOOK = "https://github.com/tcpq/tcpq_exporter/blob/main/README.md#";
for (const pr of byKind("PrometheusRule")) {
  const seen = new Set();
  for (const g of pr.obj.spec?.groups ?? []) {
    for (const r of g.rules ?? []) {
      if (!r.alert) continue;
      const w = `${pr.where}: alert ${r.alert}`;
      if (!/^Tcp[A-Z][A-Za-z0-9]*$/.test(r.alert)) problem(w, "alert names are CamelCase starting with Tcp");
      if (seen.has(r.alert)) problem(w, "duplicate alert name");
      seen.add(r.alert);
      if (!["warning", "critical", "info"].includes(r.labels?.severity)) problem(w, "labels.severity must be warning, critical or info");
      for (const a of ["summary", "description", "runbook_url"]) if (!r.annotations?.[a]) problem(w, `annotations.${a} missing`);
      if (r.annotations?.runbook_url !== RUNBOOK + r.alert.toLowerCase()) problem(w, `runbook_url must be ${RUNBOOK}${r.alert.toLowerCase()}`);
    }
  }
}

// The kustomization (kubectl apply -k) lists every other manifest of its
// directory, and its images: entries name the images the containers use,
// each giving the image to deploy. kubectl kustomize itself runs in the pod
// test (tests/integration/test_daemonset_pod.py).
for (const k of kustomizations) {
  const dir = path.dirname(k.file);
  const siblings = givenFiles.filter((f) => path.dirname(f) === dir && f !== k.file).map((f) => path.basename(f)).sort();
  const listed = [...(k.obj.resources ?? [])].sort();
  if (listed.join() !== siblings.join()) problem(k.where, `resources [${listed}] must be exactly the other manifests here [${siblings}]`);
  const images = new Set(docs.filter((d) => path.dirname(d.file) === dir && d.obj.kind === "DaemonSet")
    .flatMap((d) => d.obj.spec?.template?.spec?.containers ?? []).map((c) => c.image));
  const named = (k.obj.images ?? []).map((i) => i.name);
  if ([...images].sort().join() !== [...named].sort().join()) problem(k.where, `images: names [${named}], the containers use [${[...images]}]`);
  for (const i of k.obj.images ?? []) {
    if (!i.newName || !i.newTag) problem(k.where, `images: ${i.name} needs newName and newTag (the image to deploy)`);
  }
}

// ---------------------------------------------------------------- report
const files = new Set(docs.map((d) => d.file));
if (problems.length) {
  // ajv reports a failed `oneOf` branch once per branch: print each once.
  for (const p of new Set(problems)) console.log(`FAIL ${p}`);
  console.log(`k8s_validate: ${new Set(problems).size} problem(s) in ${files.size} file(s), ${docs.length} document(s)`);
  process.exit(1);
}
for (const d of docs) console.log(`ok   ${d.where} (${d.module})`);
for (const k of kustomizations) console.log(`ok   ${k.where} (resources and images)`);
console.log(`k8s_validate: ${docs.length + kustomizations.length} document(s) in ${files.size + kustomizations.length} file(s) valid`);
