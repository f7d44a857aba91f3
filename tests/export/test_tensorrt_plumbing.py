"""TensorRT/cuda-python plumbing that needs neither library: version policy and CUDA error handling."""
import pytest


def test_tensorrt_version_check_without_tensorrt():
    from drn_edge.errors import ExportError
    from drn_edge.export.tensorrt_plan import check_tensorrt_version

    check_tensorrt_version("10.3.0.30")
    check_tensorrt_version("11.4.0")
    for bad in ("10.2.0", "8.6.1", "12.0.0", "x"):
        with pytest.raises(ExportError):
            check_tensorrt_version(bad)


def test_cuda_errors_are_named_and_missing_driver_is_an_engine_error():
    from drn_edge.errors import EngineError
    from drn_edge.runtime.tensorrt_backend import call_cuda, cuda_check

    with pytest.raises(EngineError, match="CUDA call failed: "):
        cuda_check((2, None))

    def no_driver():
        raise RuntimeError("Failed to dlopen libcuda.so.1")

    with pytest.raises(EngineError, match="CUDA is not usable here"):
        call_cuda(no_driver)
