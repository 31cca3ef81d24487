// The precision a file's autocast regions run in. Loss scaling exists for float16, whose small
// exponent range lets gradients underflow; bfloat16 keeps float32's range and needs none.
#include "analyzer/model/model.hpp"
#include "analyzer/model/model_impl.hpp"

namespace oomlint::model {

namespace {

bool is_autocast(std::string_view qualified) {
  return qualified == "torch.autocast" || qualified == "torch.amp.autocast" || qualified == "torch.cuda.amp.autocast" ||
         qualified == "torch.cpu.amp.autocast";
}

} // namespace

// An autocast without `dtype=` runs in float16 on CUDA, and a dtype chosen at run time may be
// float16: either means the file may need a scaler.
bool Model::autocasts_only_to_bfloat16() const {
  int bfloat16 = 0;
  for (const Call& call : m_calls) {
    if (!is_autocast(call.qualified) || ts_node_is_null(call.arguments)) {
      continue;
    }
    const auto dtype = call.keyword("dtype", m_source.text());
    if (!dtype || qualified_name(*dtype) != "torch.bfloat16") {
      return false;
    }
    ++bfloat16;
  }
  return bfloat16 > 0;
}

} // namespace oomlint::model
