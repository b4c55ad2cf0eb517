"""Build hook for the optional compiled accelerator of kernel_model.btf (everything else is in
pyproject.toml). ``optional=True``: where no C compiler or Python headers are found, the
install goes on without it and the package uses its pure-Python paths (kernel_model/btf/accel.py)."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("kernel_model.btf._accel", ["kernel_model/btf/_accel.c"], optional=True,
                             extra_compile_args=["-O2"])])
