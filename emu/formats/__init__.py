"""Program files: assembly text, raw instruction bytes and the conformance ``.data`` format.

:mod:`.progfile` reads a program from a file in any of those forms;
:mod:`.conformance` is the uBPF / bpf_conformance test-data format, its
pass/fail rule and uBPF's test helpers. Imports only :mod:`kernel_model`.
"""
