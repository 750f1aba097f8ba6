"""The configuration reference (docs/configuration.md, `gatehouse settings-doc`), rendered from the
declarations."""
from __future__ import annotations

from .declarations import DECLARATIONS, SECTIONS


def reference_markdown() -> str:
    """The configuration reference (docs/configuration.md), from the declarations."""
    starts = {key: title for title, key in SECTIONS}
    out = ["# Configuration reference", "",
           "<!-- Generated from the declarations in app/settings/declarations.py by `gatehouse settings-doc --out "
           "docs/configuration.md`; a test fails when it differs. Do not edit by hand. -->", "",
           "One config file (JSON or YAML) named by `GATEHOUSE_CONFIG`, plus environment variables, which win "
           "over the file. The file uses the lower-case keys; the environment the upper-case names (the first "
           "is the documented one; Mia-Platform's names are accepted too). A bad configuration stops start-up "
           "with one line per problem naming the key, never printing a secret value; `gatehouse check-config` "
           "runs the same validation. A valid configuration that leaves a feature dead (no `routes_file`: every "
           "/auth check is refused; a configured `apps`, `bff`, `introspection`, `issuers`, `USERINFO_URL` "
           "or `TRUST_MIA_USER_HEADERS` that "
           "`CREDENTIAL_SOURCES` leaves out) gets one `warning:` line each from `gatehouse check-config` "
           "(which still exits 0: `configuration OK (...; 2 warnings)`) and in the start-up log of both process "
           "groups; it still starts. The CLI reads `--config FILE` (before or after the command), else "
           "`GATEHOUSE_CONFIG`, else `./var/gatehouse.yaml` (what `gatehouse dev` writes). "
           "A relative file path in the config file is relative to the file's "
           "directory; in the environment, to the working directory. The process settings (the first section) "
           "are usually given per process group in the environment (`GATEHOUSE_ROLE=check` for the /auth group). "
           "A value marked (secret) never appears in a message or a log line.", ""]
    for d in DECLARATIONS:
        if d.key in starts:
            out += ["", f"## {starts[d.key]}", "", "| file key | environment | default | meaning |",
                    "|---|---|---|---|"]
        env = ", ".join(f"`{n}`" for n in d.env) or "(file only)"
        flags = " (secret)" if d.secret else ""
        cells = (f"`{d.key}`", env, d.default_text(), d.doc + flags)
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out).replace("\n\n\n", "\n\n") + "\n"
