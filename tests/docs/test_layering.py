#!/usr/bin/python3
"""The layering README's Layout states: each source folder includes only the
folders below it (base < config < store < dns < milter, control), milter and
control never each other; and the libraries in CMakeLists.txt link the same
way. Reads every #include "folder/..." of the source tree."""
import pathlib
import re
import sys
import unittest

ROOT = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()

# folder -> the folders it may include (itself always)
ALLOWED = {
    "base": set(),
    "config": {"base"},
    "store": {"base", "config"},
    "dns": {"base", "config", "store"},
    "milter": {"base", "config", "store", "dns"},
    "control": {"base", "config", "store", "dns"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/', re.M)


def includes():
    for folder in ALLOWED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".h", ".cpp"):
                for m in INCLUDE.finditer(path.read_text(errors="replace")):
                    yield folder, path.relative_to(ROOT), m.group(1)


class Layering(unittest.TestCase):
    def test_folders_include_only_lower_layers(self):
        seen = 0
        bad = []
        for folder, path, target in includes():
            seen += 1
            if target != folder and target in ALLOWED and target not in ALLOWED[folder]:
                bad.append(f"{path} includes {target}/")
        self.assertGreater(seen, 100, "no includes read: wrong source directory?")
        self.assertEqual(bad, [], "includes against README's Layout")

    def test_readme_states_the_order(self):
        readme = (ROOT / "README.md").read_text()
        self.assertIn("base/", readme)
        self.assertIn("Each folder includes only the folders above it", readme)

    def test_libraries_link_the_same_way(self):
        cmake = (ROOT / "CMakeLists.txt").read_text()
        links = dict(re.findall(r"target_link_libraries\((outpost_\w+) PUBLIC ([\w:]+)", cmake))
        self.assertEqual(links.get("outpost_milter"), "outpost_core")
        self.assertEqual(links.get("outpost_control"), "outpost_core")
        trackd = re.search(r"target_link_libraries\(outpost-trackd PRIVATE ([^)]*)\)", cmake).group(1)
        self.assertNotIn("outpost_milter", trackd)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
