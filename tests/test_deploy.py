"""Static checks of the container images and the dependency lock (no Docker daemon here):
pinned base images, non-root user, one lock for both images, weights never from a hub."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
IMAGES = ["Dockerfile.cpu", "Dockerfile.gpu"]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with comments dropped (Docker drops them inside continued
    instructions too) and continuation lines joined."""
    lines = [line for line in dockerfile.read_text().splitlines() if not line.strip().startswith("#")]
    text = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def lock_pins() -> dict[str, str]:
    pins = {}
    for line in (DEPLOY / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[0-9][0-9A-Za-z.]*", version), f"not an exact pin: {line}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


@pytest.mark.parametrize("name", IMAGES)
def test_image_base_is_pinned_and_user_is_not_root(name):
    steps = instructions(DEPLOY / name)
    bases = [args for kw, args in steps if kw == "FROM"]
    assert bases, name
    for base in bases:
        image = base.split()[0]
        assert ":" in image and not image.endswith(":latest"), image
        assert re.search(r":\d+\.\d+\.\d+", image), f"{image}: pin the full version"
    users = [args for kw, args in steps if kw == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    # USER comes after the last RUN (nothing runs as root at the end) and before the entrypoint.
    last_run = max(i for i, (kw, _) in enumerate(steps) if kw == "RUN")
    last_user = max(i for i, (kw, _) in enumerate(steps) if kw == "USER")
    entrypoint = max(i for i, (kw, _) in enumerate(steps) if kw == "ENTRYPOINT")
    assert last_run < last_user < entrypoint
    assert not any(kw == "ADD" for kw, _ in steps)  # no remote fetches outside the lock


@pytest.mark.parametrize("name", IMAGES)
def test_image_installs_exactly_the_lock(name):
    steps = instructions(DEPLOY / name)
    runs = " && ".join(args for kw, args in steps if kw == "RUN")
    copies = [args for kw, args in steps if kw == "COPY"]
    assert "deploy/requirements.lock deploy/requirements.lock" in copies
    assert "pip install --no-deps -r deploy/requirements.lock" in runs
    assert "pip install --no-deps ." in runs and "pip check" in runs
    assert re.search(r'--index-url "\$TORCH_INDEX_URL" "torch==\$\{TORCH_VERSION\}"', runs)
    for source in (c.split()[0] for c in copies):
        assert (ROOT / source).exists(), source


def test_cpu_and_gpu_images_differ_only_in_the_torch_build_and_gpu_env():
    cpu = instructions(DEPLOY / "Dockerfile.cpu")
    gpu = instructions(DEPLOY / "Dockerfile.gpu")
    args = ({step for step in cpu if step[0] == "ARG"}, {step for step in gpu if step[0] == "ARG"})
    assert args[0] == {("ARG", "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu")}
    (gpu_index,) = args[1]
    assert re.fullmatch(r"TORCH_INDEX_URL=https://download\.pytorch\.org/whl/cu\d+", gpu_index[1])
    same = [kw for kw in ("FROM", "WORKDIR", "COPY", "RUN", "USER", "ENTRYPOINT")]
    for keyword in same:
        assert [a for k, a in cpu if k == keyword] == [a for k, a in gpu if k == keyword], keyword
    assert "NVIDIA_DRIVER_CAPABILITIES=compute,utility,video" in " ".join(a for k, a in gpu if k == "ENV")


@pytest.mark.parametrize("name", IMAGES)
def test_image_never_reaches_for_a_model_hub(name):
    steps = instructions(DEPLOY / name)
    env = " ".join(args for kw, args in steps if kw == "ENV")
    assert "HF_HUB_OFFLINE=1" in env and "TRANSFORMERS_OFFLINE=1" in env
    (entrypoint,) = [args for kw, args in steps if kw == "ENTRYPOINT"]
    assert entrypoint == '["python", "-m", "prism.modelstore", "exec", "--"]'
    assert "DAGSTER_HOME=/opt/dagster/home" in env
    assert any("deploy/dagster.yaml /opt/dagster/home/dagster.yaml" in a for k, a in steps if k == "RUN")


def test_lock_pins_every_runtime_dependency_at_the_pyproject_version():
    """Fails when pyproject.toml changes without `deploy/lock.sh` being run."""
    pins = lock_pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        match = re.match(r"([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(.*)", requirement)
        name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
        assert name in pins, f"{name} is not in deploy/requirements.lock: run deploy/lock.sh"
        spec = match.group(3).strip()
        if spec.startswith("==") and "," not in spec:
            assert pins[name] == spec[2:], f"{name}: lock {pins[name]}, pyproject {spec}: run deploy/lock.sh"
    assert "+" not in pins["torch"]  # either image's torch build satisfies it


def test_container_workspace_loads_the_definitions_from_the_image_workdir():
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    (location,) = workspace["load_from"]
    module = location["python_module"]
    assert module["module_name"] == "prism_assets.definitions"
    workdirs = {a for k, a in instructions(DEPLOY / "Dockerfile.cpu") if k == "WORKDIR"}
    assert workdirs == {module["working_directory"]}


def test_dockerignore_keeps_the_context_to_what_the_images_copy():
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "**"
    kept = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    copied = {c.split()[0] for name in IMAGES for k, c in instructions(DEPLOY / name) if k == "COPY"}
    assert {source.split("/")[0] for source in copied} <= kept
