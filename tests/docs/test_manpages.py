"""The manual pages and the header comments agree with the programs.

For each binary, the long options its --help prints (for outpostctl: of
every command, found by walking `outpostctl [CMD...] --help`) must be the
options documented

  * in the man page (man/*.8): its SYNOPSIS, and its OPTIONS section (for
    outpostctl: the COMMANDS section, one .TP per command with its options
    in a nested .RS/.TP list);
  * in the manual page at the top of the program's main file (SYNOPSIS;
    for outpost-milter and outpost-trackd also the option descriptions).

The keys (and defaults) of `outpostctl config example` must be those of
outpost.yaml(5). Every page must render with `man --warnings` (groff -ww)
without a warning, and pass `mandoc -T lint` where mandoc is installed.

Run by CTest (tests/CMakeLists.txt) with OUTPOST_BUILD_DIR and
OUTPOST_SOURCE_DIR set; by hand:
    OUTPOST_BUILD_DIR=build OUTPOST_SOURCE_DIR=. python3 tests/docs/test_manpages.py
"""

import os
import re
import shutil
import subprocess
import unittest

SRC = os.environ.get("OUTPOST_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("OUTPOST_BUILD_DIR", os.path.join(SRC, "build"))

PROGRAMS = {
    # binary: (man page, main file)
    "outpostctl": ("man/outpostctl.8", "control/outpostctl.cpp"),
    "outpost-milter": ("man/outpost-milter.8", "milter/main.cpp"),
    "outpost-trackd": ("man/outpost-trackd.8", "control/trackd.cpp"),
}
CONFIG_PAGE = "man/outpost.yaml.5"

LONG_OPTION = re.compile(r"(?<![\w-])--[a-z0-9][a-z0-9-]*")
CONFIG_KEY = re.compile(r"^[a-z_]+(\.[a-z_]+)+$")


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60,
                       env=dict(os.environ, OUTPOST_CONFIG="/nonexistent/outpost.yaml"))
    return p.returncode, p.stdout, p.stderr


# ---- --help (CLI11) -----------------------------------------------------


def help_sections(text):
    """{'Options': [lines], 'Subcommands': [lines], ...} of a CLI11 help text."""
    sections, current = {}, None
    for line in text.splitlines():
        m = re.match(r"^([A-Z][A-Za-z ]*):\s*$", line)
        if m:
            current = m.group(1)
            sections[current] = []
        elif not line.strip():
            current = None
        elif current:
            sections[current].append(line)
    return sections


def help_of(binary, path):
    rc, out, err = run([binary] + list(path) + ["--help"])
    if rc != 0:
        raise AssertionError("`%s %s --help` exited %d: %s" % (os.path.basename(binary), " ".join(path), rc,
                                                               err.strip()))
    s = help_sections(out)
    options = set()
    for line in s.get("Options", []):
        m = re.match(r"^  (-\S+)", line)  # the name column; descriptions are further right
        if m:
            options |= set(LONG_OPTION.findall(m.group(1)))
    subs = []
    for line in s.get("Subcommands", []):
        m = re.match(r"^  ([a-z][a-z0-9-]*)(\s|$)", line)
        if m:
            subs.append(m.group(1))
    return options, subs


def command_tree(binary):
    """{'domain add': {'--tenant', ...}, '': {'--config', '--help', ...}} for every
    command to document: the top level, every leaf, and any group that has
    options of its own. --help, which every command has, is left out below
    the top level."""
    out, todo = {}, [()]
    while todo:
        path = todo.pop()
        options, subs = help_of(binary, path)
        if path:
            options.discard("--help")
        if not path or not subs or options:
            out[" ".join(path)] = options
        todo.extend(path + (s,) for s in subs)
    return out


# ---- troff --------------------------------------------------------------


def troff_text(s):
    """Text of a troff line or macro argument list, without escapes."""
    s = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", s)
    s = s.replace("\\c", "").replace("\\%", "").replace("\\&", "").replace("\\-", "-")
    s = s.replace("\\(dq", '"').replace("\\(lq", '"').replace("\\(rq", '"')
    s = re.sub(r"\\\(..", " ", s)
    s = s.replace("\\e", "\\")
    return s


def macro(line):
    """('TP', ['arg', ...]) for a macro line, else (None, [line])."""
    if not line.startswith((".", "'")):
        return None, [line]
    parts = re.match(r"^[.']\s*(\S*)\s*(.*)$", line)
    name, rest = parts.group(1), parts.group(2)
    args = [a[1:-1] if a.startswith('"') else a for a in re.findall(r'"[^"]*"|\S+', rest)]
    return name, args


def man_lines(path):
    with open(path, encoding="utf-8") as f:
        return [l.rstrip("\n") for l in f if not l.startswith(('.\\"', "'\\\""))]


def man_sections(lines):
    sections, current = {}, None
    for line in lines:
        name, args = macro(line)
        if name == "SH":
            current = troff_text(" ".join(args)).strip()
            sections[current] = []
        elif current:
            sections[current].append(line)
    return sections


def line_text(line):
    name, args = macro(line)
    return troff_text(" ".join(args))


def tp_items(lines):
    """[(depth, tag text, [body lines])] of the .TP items, depth counted in .RS."""
    items, depth, i = [], 0, 0
    while i < len(lines):
        name, _ = macro(lines[i])
        if name == "RS":
            depth += 1
        elif name == "RE":
            depth -= 1
        elif name == "TP" and i + 1 < len(lines):
            items.append((depth, line_text(lines[i + 1]), []))
            i += 1
        elif items:
            items[-1][2].append(lines[i])
        i += 1
    return items


def leading_words(text):
    words = []
    for w in text.split():
        if not re.match(r"^[a-z][a-z0-9-]*$", w):
            break
        words.append(w)
    return words


def synopsis_forms(lines, program):
    """{command path: options} of the .SY ... .YS forms of a SYNOPSIS."""
    forms, current = {}, None
    for line in lines:
        name, args = macro(line)
        if name == "SY":
            words = leading_words(troff_text(" ".join(args)))
            if not words or words[0] != program:
                current = None
                continue
            current = " ".join(words[1:])
            forms.setdefault(current, set())
        elif name == "YS":
            current = None
        elif current is not None:
            forms[current] |= set(LONG_OPTION.findall(line_text(line)))
    return forms


# ---- the manual page at the top of a main file ---------------------------


def header_comment(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    m = re.match(r"\s*/\*(.*?)\*/", text, re.S)
    if not m:
        raise AssertionError("%s does not start with its manual page in a /* ... */ comment" % path)
    lines = [re.sub(r"^ ?\* ?", "", l) for l in m.group(1).splitlines()]
    sections, current = {}, None
    for line in lines:
        if re.match(r"^[A-Z][A-Z ]+$", line.strip()) and not line.startswith(" "):
            current = line.strip()
            sections[current] = []
        elif current:
            sections[current].append(line)
    return lines, sections


def header_forms(synopsis, program):
    """{command path: options} of SYNOPSIS lines `program ...` (continued by deeper indentation)."""
    forms, current, indent = {}, None, 0
    for line in synopsis:
        stripped = line.strip()
        if not stripped:
            current = None
            continue
        ind = len(line) - len(line.lstrip())
        if stripped.startswith(program + " ") or stripped == program:
            words = leading_words(stripped)
            current = " ".join(words[1:])
            indent = ind
            forms.setdefault(current, set())
            forms[current] |= set(LONG_OPTION.findall(stripped))
        elif current is not None and ind > indent:
            forms[current] |= set(LONG_OPTION.findall(stripped))
        else:
            current = None
    return forms


def described_options(lines):
    """Options described in a comment: lines starting `-f, --foreground  text`, `--debug  text`
    or `--config FILE  text`."""
    out = set()
    for line in lines:
        m = re.match(r"^\s+((?:-\w, )?--[a-z0-9-]+)(?: [A-Z]+)?(?:\s{2,}|$)", line)
        if m:
            out |= set(LONG_OPTION.findall(m.group(1)))
    return out


# ---- comparisons ----------------------------------------------------------


def compare(problems, what, want, have, where):
    """Name every option of `want` missing from `have` and every extra one."""
    for o in sorted(want - have):
        problems.append("%s: %s is missing from %s" % (what, o, where))
    for o in sorted(have - want):
        problems.append("%s: %s is in %s but not in --help (remove it, or add the option)" % (what, o, where))


def compare_commands(problems, program, tree, documented, where, hint):
    for c in sorted(set(tree) - set(documented)):
        problems.append("%s %s: the command is missing from %s (%s)" % (program, c, where, hint))
    for c in sorted(set(documented) - set(tree)):
        problems.append("%s %s: documented in %s, but --help has no such command" % (program, c, where))
    for c in sorted(set(tree) & set(documented)):
        compare(problems, ("%s %s" % (program, c)).strip(), tree[c], documented[c], where)


def example_keys(text):
    """{dotted key: default text} of `outpostctl config example`."""
    keys, stack = {}, []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = re.match(r"^( *)([a-z_]+):\s*(.*)$", line)
        if not m:
            raise AssertionError("config example: cannot read line %r" % line)
        depth = len(m.group(1)) // 2
        stack = stack[:depth]
        if m.group(3) == "":
            stack.append(m.group(2))
        else:
            keys[".".join(stack + [m.group(2)])] = m.group(3)
    return keys


class ManPages(unittest.TestCase):
    def binary(self, name):
        path = os.path.join(BUILD, name)
        if not os.access(path, os.X_OK):
            self.fail("%s is not built (looked in OUTPOST_BUILD_DIR=%s)" % (name, BUILD))
        return path

    def src(self, rel):
        return os.path.join(SRC, rel)

    def test_outpostctl_commands_and_options(self):
        page, main = PROGRAMS["outpostctl"]
        tree = command_tree(self.binary("outpostctl"))
        self.assertIn("domain add", tree, "walking `outpostctl --help` found no `domain add`")
        self.assertIn("--tenant", tree["domain add"])
        problems = []

        sections = man_sections(man_lines(self.src(page)))
        for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS", "FILES",
                  "DIAGNOSTICS", "SECURITY", "SEE ALSO"):
            if s not in sections:
                problems.append("%s has no %s section" % (page, s))
        # COMMANDS: a .TP per command (depth 0), its options as .TP items inside .RS.
        commands, current = {}, None
        for depth, tag, _ in tp_items(sections.get("COMMANDS", [])):
            if depth == 0:
                current = " ".join(leading_words(tag))
                commands.setdefault(current, set())
            elif depth == 1 and current is not None:
                commands[current] |= set(LONG_OPTION.findall(tag))
        commands[""] = {o for d, tag, _ in tp_items(sections.get("OPTIONS", [])) if d == 0
                        for o in LONG_OPTION.findall(tag)}
        compare_commands(problems, "outpostctl", tree, commands, page + " (COMMANDS; top level: OPTIONS)",
                         "add a .TP with the command, its options in .RS/.TP/.RE")
        compare_commands(problems, "outpostctl", tree, synopsis_forms(sections.get("SYNOPSIS", []), "outpostctl"),
                         page + " (SYNOPSIS)", "add a .SY \"outpostctl COMMAND\" ... .YS form")

        _, hsections = header_comment(self.src(main))
        compare_commands(problems, "outpostctl", tree, header_forms(hsections.get("SYNOPSIS", []), "outpostctl"),
                         main + " (the SYNOPSIS of its header comment)",
                         "add a line `outpostctl COMMAND ... [--option ARG]`")
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_daemon_options(self):
        problems = []
        for program in ("outpost-milter", "outpost-trackd"):
            page, main = PROGRAMS[program]
            want, subs = help_of(self.binary(program), ())
            self.assertIn("--config", want, "%s --help lists no --config" % program)
            self.assertEqual(subs, [], "%s has no subcommands" % program)
            sections = man_sections(man_lines(self.src(page)))
            for s in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SIGNALS", "EXIT STATUS", "FILES",
                      "DIAGNOSTICS", "SECURITY", "SEE ALSO"):
                if s not in sections:
                    problems.append("%s has no %s section" % (page, s))
            options = {o for d, tag, _ in tp_items(sections.get("OPTIONS", [])) if d == 0
                       for o in LONG_OPTION.findall(tag)}
            compare(problems, program, want, options, page + " (OPTIONS: add a .TP)")
            synopsis = set().union(*synopsis_forms(sections.get("SYNOPSIS", []), program).values())
            compare(problems, program, want, synopsis, page + " (SYNOPSIS: add it to a .SY form)")

            lines, hsections = header_comment(self.src(main))
            forms = header_forms(hsections.get("SYNOPSIS", []), program)
            compare(problems, program, want, set().union(set(), *forms.values()),
                    main + " (SYNOPSIS of its header comment)")
            compare(problems, program, want - {"--help", "--version"}, described_options(lines),
                    main + " (header comment: describe it on a line `--option  what it does`)")
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_config_keys(self):
        rc, out, err = run([self.binary("outpostctl"), "config", "example"])
        self.assertEqual(rc, 0, err)
        want = example_keys(out)
        self.assertIn("store.path", want)
        sections = man_sections(man_lines(self.src(CONFIG_PAGE)))
        have = {}
        for depth, tag, body in tp_items(sections.get("PARAMETERS", [])):
            words = tag.split()
            if depth == 0 and words and CONFIG_KEY.match(words[0]):
                m = re.search(r"default \\fB(.*?)\\fR", " ".join(body))
                have[words[0]] = troff_text(m.group(1)) if m else None
        problems = []
        for k in sorted(set(want) - set(have)):
            problems.append("config key %s (default %s) is missing from %s: add a .TP under PARAMETERS"
                            % (k, want[k], CONFIG_PAGE))
        for k in sorted(set(have) - set(want)):
            problems.append("config key %s is in %s but not in `outpostctl config example`" % (k, CONFIG_PAGE))
        for k in sorted(set(want) & set(have)):
            if have[k] is None:
                problems.append("%s: %s does not say its default as `default \\fB...\\fR`" % (CONFIG_PAGE, k))
            elif have[k] != want[k]:
                problems.append("%s: %s has default %s, but `outpostctl config example` says %s"
                                % (CONFIG_PAGE, k, have[k], want[k]))
        self.assertEqual(problems, [], "\n" + "\n".join(problems))

    def test_pages_render_without_warnings(self):
        pages = [p for p, _ in PROGRAMS.values()] + [CONFIG_PAGE]
        problems = []
        env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
        if shutil.which("man"):
            render = lambda p: ["man", "--warnings", "-l", p]
        elif shutil.which("groff"):
            render = lambda p: ["groff", "-t", "-man", "-Tutf8", "-ww", "-z", p]
        else:
            self.fail("neither man (man-db) nor groff (groff-base) is installed; install man-db")
        for rel in pages:
            p = subprocess.run(render(self.src(rel)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=60, env=env)
            if p.returncode != 0 or p.stderr.strip():
                problems.append("%s: %s exited %d: %s" % (rel, render(rel)[0], p.returncode, p.stderr.strip()))
            if "NAME" not in p.stdout:
                problems.append("%s: rendered without a NAME section" % rel)
        if shutil.which("mandoc"):
            for rel in pages:
                p = subprocess.run(["mandoc", "-T", "lint", "-W", "style", self.src(rel)], stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, text=True, timeout=60)
                if p.stdout.strip():
                    problems.append("%s: mandoc -T lint: %s" % (rel, p.stdout.strip()))
        else:
            print("mandoc is not installed: the mandoc -T lint check is skipped (man --warnings still ran)")
        self.assertEqual(problems, [], "\n" + "\n".join(problems))


if __name__ == "__main__":
    unittest.main(verbosity=2)
