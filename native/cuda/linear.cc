// Fully connected layer y = x W^T + b with cuBLAS (x [N,in], W [out,in]
// row-major, as PyTorch). Row-major matrices are column-major transposes,
// so with cuBLAS's column-major GEMM C = op(A) op(B):
//   y^T  [out,N] = W^T^T x^T   -> gemm(T, N, m=out, n=N, k=in, W (ld in), x (ld in), y (ld out))
//   dx^T [in,N]  = W^T dy^T    -> gemm(N, N, m=in, n=N, k=out, W (ld in), dy (ld out), dx (ld in))
//   dW^T [in,out] = x^T dy     -> gemm(N, T, m=in, n=out, k=N, x (ld in), dy (ld out), dW (ld in))
// Bias add and bias gradient are our kernels (eltwise.cu). float32 only; fp32
// math (TF32 with SENET_CUDA_TF32=1).
#include "cuda/common.h"
#include "cuda/libs.h"
#include "cuda/ops.h"
#include "cuda/stream.h"

namespace senet::cuda {
namespace {

void require_f32(const char* op, const char* arg, const Tensor& t) {
  if (t.dtype != DType::F32)
    fail(Code::DType, op, arg, "dtype float32 (the dense layer runs in float32 on CUDA)", dtype_name(t.dtype));
  for (auto d : t.shape)
    if (d > int64_t(0x7fffffff)) fail(Code::Shape, op, arg, "dimensions below 2^31 on CUDA", "shape " + shape_str(t.shape));
}

}  // namespace

Tensor linear_forward(const Tensor& x, const Tensor& w, const std::optional<Tensor>& b) {
  const char* op = "linear";
  Context& ctx = context(x.device().index, op);
  require_f32(op, "x", x);
  require_f32(op, "w", w);
  if (b) require_f32(op, "b", *b);
  const int64_t N = x.shape[0], I = x.shape[1], O = w.shape[0];
  Tensor y = empty_tensor({N, O}, DType::F32, x.device(), op);
  if (N == 0 || O == 0) return y;
  cublasHandle_t h = ctx.cublas(op);
  const float one = 1.0f, zero = 0.0f;
  check_cublas(cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, int(O), int(N), int(I), &one, w.f32(), int(I), x.f32(), int(I),
                           &zero, y.f32(), int(O)),
               op, "cublasSgemm");
  if (b) add_bias_rows(y, *b, op);
  return y;
}

std::vector<Tensor> linear_backward(const Tensor& dy, const Tensor& x, const Tensor& w, bool need_dx, bool with_bias) {
  const char* op = "linearBackward";
  Context& ctx = context(x.device().index, op);
  require_f32(op, "x", x);
  require_f32(op, "dy", dy);
  require_f32(op, "w", w);
  const int64_t N = x.shape[0], I = x.shape[1], O = w.shape[0];
  Tensor dx, db;
  if (need_dx) dx = empty_tensor({N, I}, DType::F32, x.device(), op);
  Tensor dw = empty_tensor({O, I}, DType::F32, x.device(), op);
  if (with_bias) db = empty_tensor({O}, DType::F32, x.device(), op);
  cublasHandle_t h = ctx.cublas(op);
  const float one = 1.0f, zero = 0.0f;
  if (need_dx && N > 0 && I > 0)
    check_cublas(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, int(I), int(N), int(O), &one, w.f32(), int(I), dy.f32(),
                             int(O), &zero, dx.f32(), int(I)),
                 op, "cublasSgemm (dx)");
  if (O > 0 && I > 0)
    check_cublas(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_T, int(I), int(O), int(N), &one, x.f32(), int(I), dy.f32(),
                             int(O), &zero, dw.f32(), int(I)),
                 op, "cublasSgemm (dw)");
  if (with_bias) column_sums(dy, O, db.f32(), op);
  return {dx, dw, db};
}

}  // namespace senet::cuda
