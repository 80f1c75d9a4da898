# The CUDA backend (native/cuda): cuDNN 9 for convolutions, cuBLAS 13 for the
# dense layer, our own kernels for everything else. Included at the end of
# CMakeLists.txt, after the `senet` target exists.
#
#   SENET_CUDA=1   build it; configuring fails when nvcc, cuDNN or cuBLAS is missing
#   SENET_CUDA=0   do not build it (CPU only)
#   (unset)        build it when nvcc, cuDNN and cuBLAS are all found
#
# cuDNN and cuBLAS are looked for in CUDNN_ROOT / CUBLAS_ROOT (environment or
# -D), in the folders of the nvidia-cudnn-cu13 / nvidia-cublas Python wheels
# (any `nvidia` package python3 can import, and /opt/nvwheels/nvidia), and on
# the system. SENET_CUDA_ARCHS overrides the GPU architectures (default
# "80-real;90": SASS for A100 and H100, plus PTX of sm_90 for newer GPUs).
# The CUDA runtime is linked statically, so the addon loads (CPU working,
# no cuda device listed) on machines without a driver or GPU.

include(CheckLanguage)

set(_senet_cuda_req "")
if(DEFINED ENV{SENET_CUDA})
  set(_senet_cuda_req "$ENV{SENET_CUDA}")
elseif(DEFINED SENET_CUDA)
  set(_senet_cuda_req "${SENET_CUDA}")
endif()
set(_senet_cuda_forced OFF)
if(_senet_cuda_req MATCHES "^(0|OFF|off|Off|no|NO|false|FALSE)$")
  message(STATUS "senet: CUDA backend off (SENET_CUDA=${_senet_cuda_req})")
  return()
elseif(_senet_cuda_req MATCHES "^(1|ON|on|On|yes|YES|true|TRUE)$")
  set(_senet_cuda_forced ON)
elseif(NOT _senet_cuda_req STREQUAL "")
  message(FATAL_ERROR "senet: SENET_CUDA must be 1 or 0, got '${_senet_cuda_req}'")
endif()

if(DEFINED ENV{SENET_CUDA_ARCHS})
  set(_senet_cuda_archs "$ENV{SENET_CUDA_ARCHS}")
elseif(DEFINED SENET_CUDA_ARCHS)
  set(_senet_cuda_archs "${SENET_CUDA_ARCHS}")
else()
  set(_senet_cuda_archs "80-real;90")
endif()
# Needed before the compiler check: CMake's default architecture is older
# than what nvcc 13 accepts.
if(NOT CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "${_senet_cuda_archs}")
endif()

# ---- nvcc
if(NOT CMAKE_CUDA_COMPILER)
  find_program(_senet_nvcc nvcc PATHS /usr/local/cuda/bin ENV CUDA_HOME ENV CUDA_PATH PATH_SUFFIXES bin)
  if(_senet_nvcc)
    set(CMAKE_CUDA_COMPILER "${_senet_nvcc}")
  endif()
  unset(_senet_nvcc CACHE)
endif()
check_language(CUDA)
set(_senet_nvcc_ok OFF)
if(CMAKE_CUDA_COMPILER)
  execute_process(COMMAND "${CMAKE_CUDA_COMPILER}" --version OUTPUT_VARIABLE _nvcc_v ERROR_QUIET)
  string(REGEX MATCH "release ([0-9]+)\\.([0-9]+)" _nvcc_m "${_nvcc_v}")
  set(_senet_nvcc_version "${CMAKE_MATCH_1}.${CMAKE_MATCH_2}")
  if(CMAKE_MATCH_1 GREATER_EQUAL 12)
    set(_senet_nvcc_ok ON)
    message(STATUS "senet: ✓ CUDA ${_senet_nvcc_version} found (${CMAKE_CUDA_COMPILER})")
  else()
    message(STATUS "senet: ✗ CUDA: ${CMAKE_CUDA_COMPILER} is release ${_senet_nvcc_version}, need >= 12")
  endif()
else()
  message(STATUS "senet: ✗ CUDA not found (no nvcc on PATH or in /usr/local/cuda/bin)")
endif()

# ---- the nvidia/* folders of Python wheels
set(_senet_wheel_dirs "")
foreach(_py python3 python)
  find_program(_senet_py_${_py} ${_py})
  if(_senet_py_${_py})
    execute_process(COMMAND "${_senet_py_${_py}}" -c "import nvidia; print(';'.join(list(nvidia.__path__)))"
                    OUTPUT_VARIABLE _p OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
    if(_rc EQUAL 0 AND _p)
      list(APPEND _senet_wheel_dirs ${_p})
    endif()
  endif()
endforeach()
list(APPEND _senet_wheel_dirs /opt/nvwheels/nvidia)
list(REMOVE_DUPLICATES _senet_wheel_dirs)

# ---- cuDNN 9
set(_hints "")
foreach(_r "$ENV{CUDNN_ROOT}" "${CUDNN_ROOT}")
  if(_r)
    list(APPEND _hints "${_r}")
  endif()
endforeach()
foreach(_d IN LISTS _senet_wheel_dirs)
  list(APPEND _hints "${_d}/cudnn")
endforeach()
find_path(SENET_CUDNN_INCLUDE_DIR cudnn_version.h HINTS ${_hints} PATH_SUFFIXES include
          PATHS /usr/local/cuda /usr/include /usr/include/x86_64-linux-gnu)
find_library(SENET_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 HINTS ${_hints} PATH_SUFFIXES lib lib64
             PATHS /usr/local/cuda /usr/lib/x86_64-linux-gnu)
set(_senet_cudnn_ok OFF)
if(SENET_CUDNN_INCLUDE_DIR AND SENET_CUDNN_LIBRARY)
  file(STRINGS "${SENET_CUDNN_INCLUDE_DIR}/cudnn_version.h" _v REGEX "^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) ")
  string(REGEX MATCH "CUDNN_MAJOR ([0-9]+)" _m "${_v}")
  set(_cudnn_major "${CMAKE_MATCH_1}")
  string(REGEX MATCH "CUDNN_MINOR ([0-9]+)" _m "${_v}")
  set(_cudnn_minor "${CMAKE_MATCH_1}")
  string(REGEX MATCH "CUDNN_PATCHLEVEL ([0-9]+)" _m "${_v}")
  set(_cudnn_version "${_cudnn_major}.${_cudnn_minor}.${CMAKE_MATCH_1}")
  if(_cudnn_major EQUAL 9)
    set(_senet_cudnn_ok ON)
    message(STATUS "senet: ✓ cuDNN ${_cudnn_version} found (${SENET_CUDNN_LIBRARY})")
  else()
    message(STATUS "senet: ✗ cuDNN: ${SENET_CUDNN_INCLUDE_DIR} is version ${_cudnn_version}, need 9.x")
  endif()
else()
  message(STATUS "senet: ✗ cuDNN not found (set CUDNN_ROOT, or: python3 -m pip install nvidia-cudnn-cu13)")
endif()

# ---- cuBLAS (+ cuBLASLt) 13
set(_hints "")
foreach(_r "$ENV{CUBLAS_ROOT}" "${CUBLAS_ROOT}")
  if(_r)
    list(APPEND _hints "${_r}")
  endif()
endforeach()
foreach(_d IN LISTS _senet_wheel_dirs)
  list(APPEND _hints "${_d}/cu13" "${_d}/cublas")
endforeach()
get_filename_component(_nvcc_root "${CMAKE_CUDA_COMPILER}" DIRECTORY)
get_filename_component(_nvcc_root "${_nvcc_root}" DIRECTORY)
find_path(SENET_CUBLAS_INCLUDE_DIR cublas_v2.h HINTS ${_hints} PATH_SUFFIXES include
          PATHS "${_nvcc_root}" /usr/local/cuda /usr/include)
find_library(SENET_CUBLAS_LIBRARY NAMES cublas libcublas.so.13 HINTS ${_hints} PATH_SUFFIXES lib lib64
             PATHS "${_nvcc_root}" /usr/local/cuda /usr/lib/x86_64-linux-gnu)
find_library(SENET_CUBLASLT_LIBRARY NAMES cublasLt libcublasLt.so.13 HINTS ${_hints} PATH_SUFFIXES lib lib64
             PATHS "${_nvcc_root}" /usr/local/cuda /usr/lib/x86_64-linux-gnu)
set(_senet_cublas_ok OFF)
if(SENET_CUBLAS_INCLUDE_DIR AND SENET_CUBLAS_LIBRARY AND SENET_CUBLASLT_LIBRARY)
  file(STRINGS "${SENET_CUBLAS_INCLUDE_DIR}/cublas_api.h" _v REGEX "^#define CUBLAS_VER_(MAJOR|MINOR) ")
  string(REGEX MATCH "CUBLAS_VER_MAJOR ([0-9]+)" _m "${_v}")
  set(_cublas_major "${CMAKE_MATCH_1}")
  string(REGEX MATCH "CUBLAS_VER_MINOR ([0-9]+)" _m "${_v}")
  set(_cublas_version "${_cublas_major}.${CMAKE_MATCH_1}")
  if(_cublas_major GREATER_EQUAL 12)
    set(_senet_cublas_ok ON)
    message(STATUS "senet: ✓ cuBLAS ${_cublas_version} found (${SENET_CUBLAS_LIBRARY})")
  else()
    message(STATUS "senet: ✗ cuBLAS: ${SENET_CUBLAS_INCLUDE_DIR} is version ${_cublas_version}, need >= 12")
  endif()
else()
  message(STATUS "senet: ✗ cuBLAS not found (set CUBLAS_ROOT, or: python3 -m pip install nvidia-cublas)")
endif()

if(NOT (_senet_nvcc_ok AND _senet_cudnn_ok AND _senet_cublas_ok))
  if(_senet_cuda_forced)
    message(FATAL_ERROR "senet: SENET_CUDA=1 but the CUDA backend cannot be built (see the ✗ lines above)")
  endif()
  message(STATUS "senet: CUDA backend not built (CPU only)")
  return()
endif()

# ---- the backend
enable_language(CUDA)
find_package(CUDAToolkit REQUIRED)
message(STATUS "senet: CUDA backend on, architectures ${_senet_cuda_archs}")

set(SENET_CUDA_SOURCES
  native/cuda/allocator.cc
  native/cuda/stream.cc
  native/cuda/device_memory.cc
  native/cuda/conv.cc
  native/cuda/linear.cc
  native/cuda/batchnorm.cu
  native/cuda/pool.cu
  native/cuda/eltwise.cu
  native/cuda/loss.cu
  native/cuda/sgd.cu
  native/cuda/randn.cu
  native/cuda/pad.cu
  native/cuda/cast.cu
  native/cuda/se.cu
)
list(TRANSFORM SENET_CUDA_SOURCES PREPEND "${CMAKE_SOURCE_DIR}/")
target_sources(${PROJECT_NAME} PRIVATE ${SENET_CUDA_SOURCES})

# The CPU flags of CMakeLists.txt (-mavx2, -Wall, ...) are for the C++
# compiler only: nvcc would reject them.
get_target_property(_opts ${PROJECT_NAME} COMPILE_OPTIONS)
if(_opts)
  set(_wrapped "")
  foreach(_o IN LISTS _opts)
    if(_o MATCHES "^\\$<")
      list(APPEND _wrapped "${_o}")
    else()
      list(APPEND _wrapped "$<$<COMPILE_LANGUAGE:CXX>:${_o}>")
    endif()
  endforeach()
  set_property(TARGET ${PROJECT_NAME} PROPERTY COMPILE_OPTIONS ${_wrapped})
endif()
target_compile_options(${PROJECT_NAME} PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-O3 -lineinfo --expt-relaxed-constexpr -Xcompiler=-fvisibility=hidden
                              -Xcompiler=-Wno-unused-parameter>)

set_target_properties(${PROJECT_NAME} PROPERTIES
  CUDA_ARCHITECTURES "${_senet_cuda_archs}"
  CUDA_STANDARD 17
  CUDA_STANDARD_REQUIRED ON
  CUDA_RUNTIME_LIBRARY Static)
target_compile_definitions(${PROJECT_NAME} PRIVATE SENET_WITH_CUDA
  SENET_CUDNN_BUILD_VERSION="${_cudnn_version}" SENET_CUBLAS_BUILD_VERSION="${_cublas_version}")
target_include_directories(${PROJECT_NAME} PRIVATE ${SENET_CUDNN_INCLUDE_DIR} ${SENET_CUBLAS_INCLUDE_DIR}
                                                   ${CUDAToolkit_INCLUDE_DIRS})
target_link_libraries(${PROJECT_NAME} PRIVATE ${SENET_CUDNN_LIBRARY} ${SENET_CUBLAS_LIBRARY}
                                              ${SENET_CUBLASLT_LIBRARY} CUDA::cudart_static)

# Find cuDNN/cuBLAS where they were found at build time ($ORIGIN first for
# prebuilds); LD_LIBRARY_PATH still wins (DT_RUNPATH).
get_filename_component(_cudnn_dir "${SENET_CUDNN_LIBRARY}" DIRECTORY)
get_filename_component(_cublas_dir "${SENET_CUBLAS_LIBRARY}" DIRECTORY)
set_target_properties(${PROJECT_NAME} PROPERTIES
  BUILD_RPATH "$ORIGIN;${_cudnn_dir};${_cublas_dir}"
  INSTALL_RPATH "$ORIGIN;${_cudnn_dir};${_cublas_dir}")
target_link_options(${PROJECT_NAME} PRIVATE "LINKER:--enable-new-dtags")
