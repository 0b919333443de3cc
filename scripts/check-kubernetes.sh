#!/usr/bin/env bash
# check-kubernetes.sh — validate deploy/kubernetes offline against the Kubernetes schemas
# (kubernetes-validate from PyPI carries them; no cluster needed), strictly: an unknown field
# fails. Also checks that the ConfigMap's serve.toml parses and keeps several replicas on the
# shared PostgreSQL report log.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=${K8S_VERSION:-1.30.0}
venv="${HOME}/.cache/hashguard/k8s-venv"
if [[ ! -x "$venv/bin/kubernetes-validate" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'kubernetes-validate==1.37.0'
fi

manifests=()
for f in deploy/kubernetes/*.yaml; do
  [[ $(basename "$f") == kustomization.yaml ]] || manifests+=("$f")
done
"$venv/bin/kubernetes-validate" --strict --kubernetes-version "$K8S_VERSION" "${manifests[@]}"

"$venv/bin/python" - <<'PY'
import pathlib, tomllib, yaml
root = pathlib.Path("deploy/kubernetes")
kust = yaml.safe_load((root / "kustomization.yaml").read_text())
listed = set(kust["resources"])
present = {p.name for p in root.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
assert listed == present, f"kustomization.yaml lists {sorted(listed)}, the directory has {sorted(present)}"
cm = yaml.safe_load((root / "configmap.yaml").read_text())
conf = tomllib.loads(cm["data"]["serve.toml"])
assert conf["reports"]["backend"] == "postgres", "several replicas need the PostgreSQL report log"
assert conf["health"]["listen"].endswith(":8081")
deploy = yaml.safe_load((root / "deployment.yaml").read_text())
hpa = yaml.safe_load((root / "horizontalpodautoscaler.yaml").read_text())
assert deploy["spec"]["replicas"] >= 2 and hpa["spec"]["minReplicas"] >= 2
probe = deploy["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]
assert probe == {"port": 8081, "service": "hashguard.v1.Matcher"}, probe
print(f"check-kubernetes: {len(present)} manifests valid; serve.toml parses, reports on PostgreSQL")
PY
