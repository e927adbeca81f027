#!/usr/bin/env python3
"""Builds the Homework 2 report (PDF) from live computation.

Each section (a plug-in under report/sections/) is a list of cached steps under compute/; their
results fill the templates under templates/, every stated number and formula is a verified claim,
and latexmk turns the rendered LaTeX into build/report.pdf.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from compute.engine.cache import Cache
from compute.engine.devices import device_kind, resolve_device
from compute.engine.errors import BuildError, describe
from compute.engine.files import ROOT, user_path, write_atomic
from compute.engine.jobs import Jobs
from compute.engine.keys import library_version, program_version
from compute.engine.pipeline import Runner, build_lock
from compute.engine.plan import plan_lines, project
from compute.engine.plan import preflight as preflight_plan
from compute.engine.plan import where as device_text
from compute.engine.profiles import DEFAULT as DEFAULT_PROFILE
from compute.engine.profiles import PROFILES
from compute.engine.share import check_folder, pull, summary, transfer
from compute.engine.step import DataError
from report import numerals
from report.claims import ClaimError, ClaimRegistry
from report.diff import compare_folders, report_changes
from report.latex import check_installed, compile_pdf
from report.meta import check_typesets, load_meta
from report.mutate import check_section, measured_values
from report.proofs import Proofs, appendix
from report.render import TemplateProblem, Tex, check_templates, make_environment, template_message
from report.sections import discover
from report.watch import watch

DEBUG_VARIABLE = "BUILD_DEBUG"


def debugging(args: argparse.Namespace | None = None) -> bool:
    """--debug or BUILD_DEBUG=1: a failure prints its Python traceback too."""
    flag = args.debug if args is not None else "--debug" in sys.argv
    return flag or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")


try:
    SECTIONS = discover()
except Exception as error:  # noqa: BLE001 - a broken section module is a message too
    if debugging():
        raise
    sys.exit(describe(error, ROOT / "build"))

DATA_OPTIONS = [option for section in SECTIONS.values() for option in section.data_options]
LIBRARIES = (
    "torch",
    "torchaudio",
    "sympy",
    "numpy",
    "jinja2",
    "matplotlib",
    "rapidfuzz",
    "soundfile",
    "lark",
    "tqdm",
)
PROGRAMS = ("espeak-ng", "latexmk", "pdflatex")  # the offline speech corpus; the PDF


def _wrapped(text: str, indent: str, width: int = 96) -> str:
    return textwrap.fill(text, width, initial_indent=indent, subsequent_indent=indent + "    ")


EPILOG = (
    "sections:\n"
    + "".join(
        _wrapped(f"{s.name:<3} {s.title}: {s.summary}", "  ") + "\n" for s in SECTIONS.values()
    )
    + """
profiles:
"""
    + "".join(f"  {name:<9} {text}\n" for name, text in PROFILES.items())
    + """
data (the sections' datasets; the quick profile makes its own):
"""
    + "".join(
        _wrapped(
            f"{o.dataset:<10} --{o.name} PATH  or  {o.variable}=...  {o.help}; read by the "
            f"{' and '.join(o.profiles)} profile",
            "  ",
        )
        + "\n"
        for o in DATA_OPTIONS
    )
    + """

outputs:
  build/report.pdf   the report
  build/tex/         the generated LaTeX, figures and the LaTeX log
  build/cache/       one folder per step and cache key: result.json, manifest.json, files/

examples:
  python build.py                          build everything (quick profile)
  python build.py --section q1             recompute q1 only; q2/q3 from the cache
  python build.py --explain                what would run, and why
  python build.py --profile homework --plan
                                           what it would cost here: time, memory, disk per step
  python build.py --check                  verify every claim against its computation
  python build.py --watch                  rebuild on every save (templates, report.toml, code)
  python build.py --diff build other       which stated numbers differ between two builds, and why
  python build.py --profile homework --ljspeech ~/data/LJSpeech-1.1 --device cuda
  python build.py --profile homework --executor slurm --slurm partition=gpu --push /mnt/results
                                           compute as Slurm jobs, copy results to a shared folder
  python build.py --profile homework --device cuda --pull /mnt/results --frozen
                                           the PDF from those results, computing nothing
"""
)


# The options that only switch something on, by the group of --help they appear in
MODES = {
    "--explain": "print for each step whether it is cached and, if not, what changed; run nothing",
    "--plan": "print for each step that would run what it reads and writes, its projected time, "
    "memory and disk on this device (measured now at the step's true shapes), and the total; "
    "compute nothing that is kept",
    "--check": "compute what is missing, verify all claims, and stop before LaTeX",
    "--mutate": "with --check: corrupt each stored value that reaches the text, one at a time, and "
    "report per section the fraction a claim catches (non-zero exit below 100 %%)",
    "--check-data": "summarise the datasets the profile uses and stop (non-zero if unusable)",
    "--download": "download the real datasets and stop",
    "--watch": "build, then rebuild on every saved template, report.toml or project source, "
    "recomputing only what changed; errors are printed and the watch goes on",
}
DIFF_FLAGS = {
    "--json": "with --diff: print the comparison as JSON",
    "--fail-on-change": "with --diff: exit 1 when a claim differs beyond its tolerance",
}


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="build.py",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _what_to_build(parser.add_argument_group("what to build"))
    modes = parser.add_argument_group("what to do instead of (or before) the PDF")
    for flag, text in MODES.items():
        modes.add_argument(flag, action="store_true", help=text)
    modes.add_argument(
        "--diff",
        nargs=2,
        type=Path,
        metavar=("A", "B"),
        help="compare the claims of two build folders or --push folders, and the steps they "
        "follow from, and stop",
    )
    for flag, text in DIFF_FLAGS.items():
        modes.add_argument(flag, action="store_true", help=text)
    _where_to_compute(parser.add_argument_group("where to compute, and sharing results"))
    parser.add_argument(
        "--debug",
        action="store_true",
        help=f"on a failure, print the Python traceback too (or set {DEBUG_VARIABLE}=1)",
    )
    return parser


def _what_to_build(group) -> None:
    group.add_argument(
        "--section",
        action="append",
        metavar="NAME",
        help="recompute only this section (repeatable); the others come from the "
        "cache or show a placeholder page. Default: all sections",
    )
    group.add_argument(
        "--profile",
        default=DEFAULT_PROFILE,
        metavar="NAME",
        help="settings for the run: " + ", ".join(PROFILES) + f" (default: {DEFAULT_PROFILE})",
    )
    group.add_argument(
        "--force", action="store_true", help="recompute the selected sections even when cached"
    )
    for option in DATA_OPTIONS:
        help_text = f"{option.help}; or set {option.variable}"
        group.add_argument(f"--{option.name}", type=user_path, metavar="PATH", help=help_text)
    group.add_argument(
        "--build-dir",
        type=user_path,
        default=str(ROOT / "build"),
        metavar="DIR",
        help="where the cache, the LaTeX and the PDF go (default: build/)",
    )


def _where_to_compute(group) -> None:
    group.add_argument(
        "--device",
        default="auto",
        choices=("auto", "cpu", "cuda"),
        help="where torch computes (default: auto = CUDA when present)",
    )
    group.add_argument(
        "--executor",
        default="inline",
        choices=("inline", "local", "slurm"),
        help="where the steps compute: inline (in this process, one after the other; the "
        "default), local (subprocesses, independent steps at once) or slurm (one "
        "Slurm job per step, with the step's declared resources)",
    )
    group.add_argument(
        "--slurm",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=slurm_option,
        help="an extra #SBATCH setting of every job, e.g. partition=gpu or account=NAME "
        "(repeatable)",
    )
    group.add_argument(
        "--frozen",
        action="store_true",
        help="render from existing results only: compute nothing; a missing result is an error",
    )
    group.add_argument(
        "--push",
        type=user_path,
        metavar="DIR",
        help="after computing, copy the build's verified results into DIR and stop (no LaTeX)",
    )
    group.add_argument(
        "--pull",
        type=user_path,
        metavar="DIR",
        help="first copy the verified results this build needs from DIR into the cache",
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, with the combinations that make no sense refused in words."""
    parser = make_parser()
    args = parser.parse_args(argv)
    if args.frozen and (args.force or args.executor != "inline"):
        parser.error("--frozen computes nothing: it takes neither --force nor --executor")
    one_shot = [
        f"--{o.replace('_', '-')}"
        for o in ("explain", "plan", "check_data", "download", "push", "force", "diff")
        if getattr(args, o)
    ]
    if args.watch and one_shot:
        combined = ", ".join(one_shot)
        parser.error(f"--watch rebuilds the PDF on every save; it does not combine with {combined}")
    if (args.json or args.fail_on_change) and not args.diff:
        parser.error(
            "--json and --fail-on-change work with --diff: "
            "python build.py --diff A B --fail-on-change"
        )
    if args.mutate and not args.check:
        parser.error("--mutate works with --check: python build.py --check --mutate")
    if args.slurm and args.executor != "slurm":
        parser.error(
            "--slurm sets #SBATCH options of Slurm jobs: add --executor slurm, or leave out --slurm"
        )
    for name in args.section or []:
        if name not in SECTIONS:
            parser.error(f"unknown section {name!r}; valid sections: {', '.join(SECTIONS)}")
    if args.profile not in PROFILES:
        parser.error(f"unknown profile {args.profile!r}; valid profiles: {', '.join(PROFILES)}")
    return args


def slurm_option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE (e.g. partition=gpu)")
    return key, value


def data_options(args: argparse.Namespace) -> dict:
    """Dataset paths given on the command line, and the device, for the sections; each section's
    data module falls back on its environment variable (OCTMNIST_PATH, LJSPEECH_PATH) itself.
    `download_missing` is set only for the sections being computed, so listing the others never
    starts a download."""
    return {
        **{option.name: getattr(args, option.name) for option in DATA_OPTIONS},
        "device": args.device,
    }


def git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
        return commit + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


class Document:
    """Renders the sections and the main file into build/tex, tracking claims and figures."""

    def __init__(self, tex_dir: Path, registry: ClaimRegistry, results: dict):
        self.tex_dir = tex_dir
        self.registry = registry
        self.results = results
        self.proofs = Proofs(registry, self.figure)
        self.env = make_environment(self.proofs.globals())
        self.sources: dict[str, str] = {}

    def figure(self, step: str, name: str) -> Tex:
        source = self.results[step].file(name)
        if not source.exists():
            raise ClaimError(f"figure {name} is missing from the result of {step} ({source})")
        stem = re.sub(r"[^A-Za-z0-9-]", "-", f"{step}-{Path(name).stem}")  # graphicx-safe name
        target = self.tex_dir / "figures" / (stem + Path(name).suffix)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return Tex(f"figures/{target.name}")

    def render(self, template: str, output: str, variables: dict) -> None:
        try:
            text = self.env.get_template(template).render(**variables)
        # any failure inside a template is reported at its line
        except Exception as error:  # noqa: BLE001
            raise TemplateProblem(template_message(self.env, error, template)) from error
        write_atomic(self.tex_dir / output, text)
        self.sources[output] = template


def provenance(runner: Runner) -> dict:
    steps = [
        {
            "name": o.name,
            "key": o.key,
            "cached": o.cached,
            "seconds": o.seconds,
            "device": o.device,
            "machine": o.machine,
            "seed": o.seed,
        }
        for o in runner.outcomes.values()
    ]
    recorded = sorted({o.device for o in runner.outcomes.values()} - {"not recorded"})
    here = (
        (", ".join(recorded) or runner.device) + " (as the results record)"
        if runner.frozen
        else device_kind(runner.device)
    )
    return {
        "commit": git_commit(),
        "profile": runner.profile,
        "device": here,
        "python": sys.version.split()[0],
        "built": time.strftime("%Y-%m-%d %H:%M %Z"),
        "libraries": [(name, library_version(name)) for name in LIBRARIES],
        "programs": [(name, program_version(name)) for name in PROGRAMS],
        "steps": steps,
    }


def preflight(args: argparse.Namespace) -> dict:
    """The cheap checks, before any computation: the shared folders, the title page (report.toml),
    the templates' syntax and, for a PDF, LaTeX itself. Returns the title page settings."""
    for option in ("push", "pull"):
        if getattr(args, option) is not None:
            check_folder(getattr(args, option), f"--{option}")
    meta = load_meta(ROOT / "report.toml")
    environment = make_environment()
    check_templates(environment)
    if not (args.check or args.push):
        check_installed()
        memo = args.build_dir / "title-page.ok"
        check_typesets(meta, ROOT / "report.toml", environment, memo)
    return meta


def build(args: argparse.Namespace) -> int:
    if args.diff:
        return compare_folders(*args.diff, as_json=args.json, fail_on_change=args.fail_on_change)
    options = data_options(args)
    selected = args.section or list(SECTIONS)
    if args.download:
        for name, section in SECTIONS.items():
            if section.download is not None:
                print(f"{name}: {section.download(options)}")
        return 0
    check_data_options(args)
    if args.check_data:
        return check_data(args.profile, options)
    meta = None if args.explain or args.plan else preflight(args)
    where = "nowhere" if args.frozen else "slurm" if args.executor == "slurm" else "here"
    device = resolve_device(args.device, where)
    jobs = (
        None
        if args.executor == "inline"
        else Jobs(args.executor, args.build_dir, device, dict(args.slurm))
    )
    with build_lock(args.build_dir):
        runner = Runner(
            args.build_dir,
            device=device,
            force=args.force,
            frozen=args.frozen,
            jobs=jobs,
            profile=args.profile,
        )
        if args.explain:
            return explain(runner, options)
        if args.plan:
            return plan(runner, options, selected)
        plans = section_plans(args, options, selected)
        if args.pull:
            pull(
                Cache(args.pull, runner.digests),
                runner.cache,
                {s.name: runner.plan(s) for steps in plans.values() for s in steps or []},
            )
        chosen = [s for name in selected for s in plans[name]]
        if not args.frozen:  # the disk holds what the steps write; a long build says so first
            preflight_plan(runner, chosen, args.executor != "slurm", sys.stderr)
        results = runner.run_all(chosen)
        computed = list(selected) + from_cache(runner, plans, selected, results)
        if args.push:
            return push(runner, args.push)
        return render(args, runner, results, [name for name in SECTIONS if name in computed], meta)


def from_cache(runner: Runner, plans: dict, selected: list[str], results: dict) -> list[str]:
    """The sections not selected whose steps are all cached, their results added to `results`;
    the others are named on stderr (they get a placeholder page), with any damaged entry."""
    found = []
    for name in SECTIONS:
        if name in selected or plans[name] is None:
            continue
        cached = {s.name: runner.cached(s) for s in plans[name]}
        if all(cached.values()):
            results.update(cached)
            found.append(name)
            print(f"{name}: from the cache", file=sys.stderr)
        else:
            damaged = [
                f"{s.name}: {note}"
                for s in plans[name]
                if cached[s.name] is None and (note := runner.damaged(s.name))
            ]
            print(
                f"{name}: not computed for this profile and code; placeholder page "
                f"(run: python build.py --section {name})" + "".join(f"\n  {d}" for d in damaged),
                file=sys.stderr,
            )
    return found


def push(runner: Runner, target: Path) -> int:
    """build.py --push DIR: copies the verified results of this build into DIR (no LaTeX)."""
    report = transfer(
        runner.cache,
        Cache(target, runner.digests),
        {o.name: o.key for o in runner.outcomes.values()},
    )
    print(summary("pushed to", target, report))
    return 1 if report["refused"] else 0


def section_plans(args, options: dict, selected: list[str]) -> dict:
    """Each section's steps; None for a section that is not selected and whose data is absent.
    A selected section's missing data is downloaded, except with --frozen."""
    plans = {}
    for name in SECTIONS:
        if name in selected:
            plans[name] = SECTIONS[name].steps(
                args.profile, options | {"download_missing": not args.frozen}
            )
            continue
        try:
            plans[name] = SECTIONS[name].steps(args.profile, options)
        except DataError as error:
            print(f"{name}: placeholder page; its data is not available ({error})", file=sys.stderr)
            plans[name] = None
    return plans


def render(args, runner: Runner, results: dict, computed: list[str], meta: dict) -> int:
    tex_dir = runner.build_dir / "tex"
    shutil.rmtree(tex_dir / "figures", ignore_errors=True)
    tex_dir.mkdir(parents=True, exist_ok=True)
    registry = ClaimRegistry()
    for name in computed:
        registry.add(SECTIONS[name].claims(results))
    doc = Document(tex_dir, registry, results)
    for name, section in SECTIONS.items():
        if name in computed:
            doc.render(section.template, f"{name}.tex", section.context(results))
        else:
            doc.render(
                "placeholder.tex.j2",
                f"{name}.tex",
                {"name": name, "title": section.title, "profile": runner.profile},
            )
    problems, stray = registry.problems(set(computed)), numerals.problems(tex_dir, doc.sources)
    for problem in problems:
        print(f"claim check failed: {problem}", file=sys.stderr)
    print("".join(f"{problem}\n" for problem in stray), end="", file=sys.stderr)
    problems += stray
    report_changes(registry, runner, computed, keep=not problems)
    if args.check:
        print(
            f"claims: {len(registry.claims)} checked in {', '.join(computed) or 'no section'}; "
            f"{len(problems)} problem(s)"
        )
        compare_with_published(computed, results)
        if args.mutate and not problems:
            return mutation_check(computed, results)
        return 1 if problems else 0
    if problems:
        print("not building the PDF: the text would state something unverified", file=sys.stderr)
        return 1
    doc.render(
        "main.tex.j2",
        "main.tex",
        {
            "meta": meta,
            "sections": list(SECTIONS),
            "profile": runner.profile,
            "provenance": provenance(runner),
            "measured_values": [what for _, what in measured_values(computed)],
            "proofs": appendix(doc.proofs, registry, SECTIONS, runner.outcomes),
        },
    )
    stray = numerals.problems(tex_dir, {"main.tex": "main.tex.j2"})
    print("".join(f"{problem}\n" for problem in stray), end="", file=sys.stderr)
    if stray:
        return 1
    start = time.monotonic()
    pdf = compile_pdf(tex_dir, "main.tex", doc.sources)
    target = runner.build_dir / "report.pdf"
    write_atomic(target, pdf)
    print(f"latex: {time.monotonic() - start:.1f} s", file=sys.stderr)
    print(target)
    return 0


def mutation_check(sections: list[str], results: dict) -> int:
    """build.py --check --mutate: the fraction of corrupted values each section's claims catch."""
    status = 0
    for name in sections:
        outcome = check_section(name, results)
        print(outcome.line())
        for value in outcome.slipped:
            print(f"  not caught: {value}")
        for value in outcome.measured:
            print(f"  measured, not checked: {value}")
        status |= bool(outcome.slipped)
    return status


def compare_with_published(sections: list[str], results: dict) -> None:
    """On the real data: a warning for every result outside its published range."""
    for name in sections:
        compare = SECTIONS[name].compare
        for what, value, (low, high), inside in compare(results) if compare else []:
            if not inside:
                print(
                    f"warning: {name}: {what} is {value:.4f}, "
                    f"outside the published {low:g} to {high:g}",
                    file=sys.stderr,
                )


def planned_steps(profile: str, options: dict, names) -> tuple[list, int]:
    """The steps of the named sections, and 1 when a section cannot be planned (its data is missing
    or unusable: said on stderr), else 0."""
    steps, status = [], 0
    for name in names:
        try:
            steps += SECTIONS[name].steps(profile, options)
        except DataError as error:
            print(f"{name}: cannot plan: {error}", file=sys.stderr)
            status = 1
    return steps, status


def explain(runner: Runner, options: dict) -> int:
    steps, status = planned_steps(runner.profile, options, SECTIONS)
    for step in steps:
        planned = runner.plan(step)
        state = "cached" if planned.reason is None else f"would run: {planned.reason}"
        print(f"{step.name}: {state} [{planned.key}]")
    return status


def plan(runner: Runner, options: dict, selected: list[str]) -> int:
    """--plan: the projected cost of each step a build would run, measured now; nothing kept."""
    steps, status = planned_steps(runner.profile, options, selected)
    print(
        f"plan of the {runner.profile} profile: projections from short runs measured now on this "
        f"machine; nothing is computed or kept",
        flush=True,
    )
    rows = project(runner, steps)
    print("\n".join(plan_lines(rows, runner.build_dir, device_text(runner.device))))
    return 1 if status or any(p is not None and p.failed for _, _, p in rows) else 0


def check_data(profile: str, options: dict) -> int:
    status = 0
    for name, section in SECTIONS.items():
        if section.check_data is None:
            continue
        try:
            for line in section.check_data(profile, options):
                print(f"{name}: {line}")
        except DataError as error:
            print(f"{name}: unusable: {error}", file=sys.stderr)
            status = 1
    return status


def check_data_options(args: argparse.Namespace) -> None:
    """A section's data option (--octmnist, --ljspeech) under a profile that does not read it is an
    error naming the profile that does."""
    for name, section in SECTIONS.items():
        for option in section.data_options:
            readers = option.profiles
            if getattr(args, option.name, None) is not None and args.profile not in readers:
                raise BuildError(
                    f"--{option.name}: the {args.profile} profile does not read it ({name} makes "
                    f"its own data there); it is read by the {' and '.join(readers)} profile: add "
                    f"--profile {readers[0]}, or leave out --{option.name}"
                )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return watching(args) if args.watch else run_once(args)


def run_once(args: argparse.Namespace) -> int:
    """One build, with the command line's one error path: a failure prints what went wrong, where,
    and what to do, and returns 1; the Python traceback only with --debug or BUILD_DEBUG=1."""
    try:
        return build(args)
    except KeyboardInterrupt:
        print(
            "\ninterrupted: finished steps stay cached and a training keeps its last checkpoint; "
            "the next build resumes from them",
            file=sys.stderr,
        )
        return 130
    # the output was piped into a reader that stopped (`| head`): not a failure
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except Exception as error:  # noqa: BLE001 - every failure ends here, as a message
        if debugging(args):
            raise
        print(describe(error, args.build_dir), file=sys.stderr)
        return 1


def watching(args: argparse.Namespace) -> int:
    """--watch: builds, then rebuilds on every saved template, report.toml or project source
    (report/watch.py); a failed build is reported and the watch goes on. Ctrl-C stops it."""

    def build_once() -> int:
        status = run_once(args)
        if status == 130:
            raise KeyboardInterrupt
        return status

    def stop(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # `kill` stops it as Ctrl-C does
    try:
        watch(build_once, ROOT)
    except KeyboardInterrupt:
        print("\nwatch: stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
