"""Time and peak memory of `initlab.diagnose` on Keras Applications at their default input sizes (weights=None:
built offline). Each model runs in a fresh subprocess, which reports its own peak resident memory.

    python benchmarks/diagnose_benchmark.py            # all five, a markdown table on stdout
    python benchmarks/diagnose_benchmark.py --append   # also appended to benchmarks/results.md
"""

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import results_page  # noqa: E402  (beside this script: one section of results.md per benchmark)

MODELS = [("MobileNetV2", 224), ("ResNet50", 224), ("EfficientNetB0", 224), ("DenseNet121", 224),
          ("InceptionV3", 299)]

CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
from initlab.base.backend import keras
from initlab.diagnosis import checklist, walk

name, size = sys.argv[1], int(sys.argv[2])
model = getattr(keras().applications, name)(input_shape=(size, size, 3), weights=None)
built = time.perf_counter()
rss_built = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
table = checklist.diagnose(model)
done = time.perf_counter()
per_sample = walk.peak_bytes_per_sample(model)
print(json.dumps({
    "model": name, "size": size, "layers": len(table), "params_M": model.count_params() / 1e6,
    "build_s": built - t0, "diagnose_s": done - built, "batch": int(table["probe_batch"].iloc[0]),
    "activation_bound_MiB": walk.MEMORY_BOUND / 2**20,
    "estimated_peak_MiB": per_sample * int(table["probe_batch"].iloc[0]) / 2**20,
    "rss_built_MiB": rss_built / 1024, "rss_peak_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "verdicts": table["verdict"].value_counts().to_dict(),
}))
"""


def measure(name: str, size: int) -> dict:
    process = subprocess.run([sys.executable, "-c", CHILD, name, str(size)], capture_output=True, text=True,
                             check=True)
    return json.loads(process.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    lines = ["| model | input | params | layers with weights | build s | diagnose s | probe batch | "
             "activations held (estimate) | peak RSS after build | peak RSS after diagnose | verdicts |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in results:
        verdicts = ", ".join(f"{v} {k}" for k, v in sorted(r["verdicts"].items()))
        lines.append(f"| {r['model']} | {r['size']} px | {r['params_M']:.1f} M | {r['layers']} | {r['build_s']:.1f} | "
                     f"{r['diagnose_s']:.1f} | {r['batch']} | {r['estimated_peak_MiB']:.0f} MiB | "
                     f"{r['rss_built_MiB']:.0f} MiB | {r['rss_peak_MiB']:.0f} MiB | {verdicts} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--append", action="store_true", help="append the section to benchmarks/results.md")
    parser.add_argument("--only", nargs="*", help="model names (default: all five)")
    args = parser.parse_args()
    chosen = [(n, s) for n, s in MODELS if not args.only or n in args.only]
    load_before = os.getloadavg()[0]
    results = [measure(name, size) for name, size in chosen]
    import keras
    import tensorflow

    section = "\n".join([
        "", "# Benchmark: `initlab diagnose` on Keras Applications in bounded memory", "",
        "- command: `python benchmarks/diagnose_benchmark.py --append` (from the repo root)",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- machine: nproc {os.cpu_count()}, {platform.platform()}, python {platform.python_version()}, "
        f"tensorflow {tensorflow.__version__}, keras {keras.__version__}",
        f"- 1-minute load average before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f} "
        "(other engineers' work shared the 2 cores)",
        "- each model in a fresh process; peak RSS is the process's ru_maxrss (TensorFlow and the model's weights "
        "included); the activation bound (walk.MEMORY_BOUND) is 1 GiB, the estimate is the most bytes of "
        "activations alive at once on the walk's schedule times the probe batch",
        "", table(results), "",
    ])
    print(section)
    if args.append:
        results_page.update(section)


if __name__ == "__main__":
    main()
