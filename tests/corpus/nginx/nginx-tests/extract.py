#!/usr/bin/env python3
"""Extracts the nginx.conf heredoc of nginx-tests .t files (the first
`$t->write_file_expand('nginx.conf', <<'EOF');` ... `EOF` block) and substitutes the
harness placeholders mechanically:
  %%TEST_GLOBALS%%        -> `load_module modules/ngx_stream_module.so;` when the config
                             has a stream{} block (Debian builds stream as a module), else nothing
  %%TEST_GLOBALS_HTTP%%   -> nothing
  %%TEST_GLOBALS_STREAM%% -> nothing
  %%TESTDIR%%             -> /etc/nginx (the case's conf dir)
  %%PORT_N%%, %%PORT_N_UDP%% -> N
Usage: extract.py REPO COMMIT OUTDIR FILE.t...
"""
import re, subprocess, sys, os
repo, commit, out = sys.argv[1:4]
for t in sys.argv[4:]:
    text = subprocess.run(["git", "--git-dir", repo, "show", f"{commit}:{t}"],
                          capture_output=True, text=True, check=True).stdout
    m = re.search(r"write_file_expand\('nginx\.conf', <<'EOF'\);\n(.*?)\nEOF\n", text, re.S)
    if not m:
        print(f"{t}: no nginx.conf heredoc", file=sys.stderr)
        continue
    conf = m.group(1) + "\n"
    stream = re.search(r"^\s*stream\s*\{", conf, re.M) is not None
    conf = conf.replace("%%TEST_GLOBALS%%", "load_module modules/ngx_stream_module.so;" if stream else "")
    conf = conf.replace("%%TEST_GLOBALS_HTTP%%", "").replace("%%TEST_GLOBALS_STREAM%%", "")
    conf = conf.replace("%%TESTDIR%%", "/etc/nginx")
    conf = re.sub(r"%%PORT_(\d+)(_UDP)?%%", r"\1", conf)
    if "%%" in conf:
        print(f"{t}: placeholder left", file=sys.stderr)
        continue
    name = t[:-2] + ".conf"
    with open(os.path.join(out, name), "w") as f:
        f.write(conf)
