// softmaxCrossEntropy(logits [N,K], labels int32 [N], {labelSmoothing}) -> [loss [], dlogits]
#include "core/args.h"
#include "cpu/ops.h"
#include "ops/registry.h"

namespace senet {

SENET_BINDING(softmaxCrossEntropy) {
  OpArgs A(info, "softmaxCrossEntropy");
  Tensor logits = A.tensor(0, "logits"), labels = A.tensor(1, "labels", DType::I32);
  const double eps = opt_number(A.op(), A.options(2), "labelSmoothing", 0.0, 0.0, 1.0);
  check_same_device(A.op(), {{"logits", &logits}, {"labels", &labels}});
  check_rank(A.op(), "logits", logits, 2, "[N, classes]");
  if (logits.shape[0] <= 0 || logits.shape[1] <= 0)
    fail(Code::Shape, A.op(), "logits", "all dimensions > 0", "shape " + shape_str(logits.shape));
  check_shape(A.op(), "labels", labels, {logits.shape[0]});
  return outputs(info.Env(), SENET_DISPATCH(logits, softmax_cross_entropy, logits, labels, eps));
}

void register_loss_ops(Napi::Env env, Napi::Object exports) { SENET_EXPORT(exports, env, softmaxCrossEntropy); }

}  // namespace senet
