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

// An autocast without a dtype runs in float16 on CUDA, and a dtype chosen at run time may be
// float16: either means the file may need a scaler. A dtype the file's constants show (a
// module-level `AMP_DTYPE = torch.bfloat16`, a local picked between bfloat16 and float32) is
// as good as one written in the call. Autocast to float32 is autocast switched off.
bool Model::autocasts_only_to_bfloat16() const {
  int bfloat16 = 0;
  for (const Call& call : m_calls) {
    if (!is_autocast(call.qualified) || ts_node_is_null(call.arguments)) {
      continue;
    }
    // `torch.autocast(device_type, dtype, ...)` and `torch.cuda.amp.autocast(enabled, dtype, ...)`
    // both take the dtype second.
    const auto dtype = call.argument("dtype", 1, m_source.text());
    const auto values = dtype ? possible_constants(dtype->value) : std::nullopt;
    if (!values) {
      return false;
    }
    for (const Constant& c : *values) {
      if (c.kind != Constant::Kind::Path || (c.text != "torch.bfloat16" && c.text != "torch.float32")) {
        return false;
      }
      bfloat16 += c.text == "torch.bfloat16" ? 1 : 0;
    }
  }
  return bfloat16 > 0;
}

} // namespace oomlint::model
