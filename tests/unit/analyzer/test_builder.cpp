// The facts the one traversal records (analyzer/model/builder*.cpp), by the file that records
// them: scopes and loops, bindings, calls, grad-mode regions.
#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::model::Binding;
using oomlint::model::BindingKind;
using oomlint::model::kNone;
using oomlint::model::LoopKind;
using oomlint::model::ScopeKind;
using oomlint::testing::ModelFixture;

namespace {

// The `nth` binding of `name`, in source order.
const Binding& binding(const ModelFixture& f, const std::string& name, int nth = 0) {
  for (const Binding& b : f.model().bindings()) {
    if (b.name == name && nth-- == 0) {
      return b;
    }
  }
  throw std::runtime_error("no binding of " + name);
}

std::string text_of(const ModelFixture& f, TSNode n) {
  return std::string(f.model().text(n));
}

} // namespace

TEST(BuilderScopes, MethodsBelongToTheirClassAndLambdasToTheirMethod) {
  ModelFixture f("class Net(nn.Module, metaclass=Meta):\n"
                 "    def forward(self, x, scale=2):\n"
                 "        g = lambda y: y * scale\n"
                 "        return g(x)\n");
  const auto& m = f.model();
  const auto cls = m.scope_of_node(f.node("class Net(nn.Module, metaclass=Meta):\n"
                                          "    def forward(self, x, scale=2):\n"
                                          "        g = lambda y: y * scale\n"
                                          "        return g(x)"));
  ASSERT_NE(cls, kNone);
  EXPECT_EQ(m.scope(cls).kind, ScopeKind::Class);
  EXPECT_EQ(m.scope(cls).bases, std::vector<std::string>{"nn.Module"}); // keyword arguments are no bases
  const auto fn = m.scope_at(ts_node_start_byte(f.node("g(x)")));
  EXPECT_EQ(m.scope(fn).kind, ScopeKind::Function);
  EXPECT_EQ(m.scope(fn).name, "forward");
  EXPECT_EQ(m.scope(fn).parent, cls);
  EXPECT_EQ(m.scope(fn).class_scope, cls);
  ASSERT_EQ(m.scope(fn).returns.size(), 1U);
  EXPECT_EQ(text_of(f, m.scope(fn).returns[0]), "g(x)");
  const auto lam = m.scope_at(ts_node_start_byte(f.node("y * scale")));
  EXPECT_EQ(m.scope(lam).kind, ScopeKind::Lambda);
  EXPECT_EQ(m.scope(lam).parent, fn);
  EXPECT_EQ(m.scope(lam).class_scope, cls);

  EXPECT_EQ(binding(f, "Net").kind, BindingKind::ClassDef);
  EXPECT_EQ(binding(f, "Net").defines, cls);
  EXPECT_EQ(binding(f, "forward").defines, fn);
  EXPECT_EQ(binding(f, "self").kind, BindingKind::Parameter);
  EXPECT_EQ(binding(f, "scale").scope, fn);
  EXPECT_EQ(text_of(f, binding(f, "scale").default_value), "2");
  EXPECT_EQ(binding(f, "y").scope, lam);
}

TEST(BuilderScopes, DecoratorsAndGlobalsBelongToTheFunction) {
  ModelFixture f("@torch.no_grad()\n@cache\ndef evaluate():\n    global seen\n    seen = run()\n");
  const auto fn = f.model().scope_at(ts_node_start_byte(f.node("run()")));
  ASSERT_EQ(f.model().scope(fn).decorators.size(), 2U);
  EXPECT_EQ(text_of(f, f.model().scope(fn).decorators[0]), "torch.no_grad()");
  EXPECT_TRUE(f.model().scope(fn).globals.contains("seen"));
}

// `global x` at module level is legal (and changes nothing): looking `x` up from there, or from
// a function that reads it, ends at the module's binding instead of going round forever.
TEST(BuilderScopes, ModuleLevelGlobalStatementResolvesToTheModule) {
  ModelFixture f("import torch\n"
                 "if __name__ == '__main__':\n"
                 "    global manager\n"
                 "    manager = Manager()\n"
                 "    manager.start(torch.zeros(1))\n"
                 "def serve():\n"
                 "    return manager.handle()\n");
  EXPECT_TRUE(f.model().scope(0).globals.contains("manager"));
  EXPECT_EQ(binding(f, "manager").scope, 0);
  EXPECT_FALSE(f.model().calls().empty());
}

TEST(BuilderLoops, BodyRunsInTheLoopButIterableAndElseDoNot) {
  ModelFixture f("for x in make():\n    use(x)\nelse:\n    done()\n");
  EXPECT_EQ(f.call("make()")->loop, kNone);
  EXPECT_EQ(f.call("done()")->loop, kNone);
  const auto l = f.call("use(x)")->loop;
  ASSERT_NE(l, kNone);
  EXPECT_EQ(f.model().loop(l).kind, LoopKind::For);
  EXPECT_EQ(f.model().loop(l).targets, std::vector<std::string>{"x"});
  EXPECT_EQ(text_of(f, f.model().loop(l).iterable), "make()");
}

TEST(BuilderLoops, FunctionInALoopStartsItsOwnNestingButKeepsTheLexicalOne) {
  ModelFixture f("while running:\n    def step():\n        for b in loader:\n            train(b)\n");
  const auto inner = f.call("train(b)")->loop;
  ASSERT_NE(inner, kNone);
  EXPECT_EQ(f.model().loop(inner).parent, kNone);
  const auto outer = f.model().loop(inner).lexical_parent;
  ASSERT_NE(outer, kNone);
  EXPECT_EQ(f.model().loop(outer).kind, LoopKind::While);
  EXPECT_EQ(text_of(f, f.model().loop(outer).iterable), "running");
}

TEST(BuilderLoops, ComprehensionIsALoopAndAScope) {
  ModelFixture f("for b in loader:\n    outs = [model(v) for v in b]\n");
  const auto* call = f.call("model(v)");
  ASSERT_NE(call, nullptr);
  const auto& l = f.model().loop(call->loop);
  EXPECT_EQ(l.kind, LoopKind::Comprehension);
  EXPECT_EQ(f.model().scope(call->scope).kind, ScopeKind::Comprehension);
  EXPECT_EQ(l.scope, call->scope);
  ASSERT_NE(l.parent, kNone);
  EXPECT_EQ(f.model().loop(l.parent).kind, LoopKind::For);
  EXPECT_EQ(binding(f, "v").kind, BindingKind::ForTarget);
  EXPECT_EQ(binding(f, "v").scope, call->scope);
}

TEST(BuilderBindings, TupleTargetsBindEachElement) {
  ModelFixture f("a, (b, c) = f()\n");
  EXPECT_EQ(binding(f, "a").element, 0);
  // Nested elements are bound, but their place in the value is not followed.
  EXPECT_EQ(binding(f, "b").element, -2);
  EXPECT_EQ(binding(f, "c").element, -2);
  EXPECT_EQ(binding(f, "c").kind, BindingKind::Assign);
  EXPECT_EQ(text_of(f, binding(f, "c").value), "f()");
}

TEST(BuilderBindings, LoopTargetsAreVisibleFromTheBody) {
  ModelFixture f("for i, (x, y) in enumerate(loader):\n    step(x, y)\n");
  const Binding& i = binding(f, "i");
  EXPECT_EQ(i.kind, BindingKind::ForTarget);
  EXPECT_EQ(i.element, 0);
  EXPECT_EQ(binding(f, "y").element, -2);
  EXPECT_EQ(text_of(f, i.value), "enumerate(loader)");
  EXPECT_EQ(i.visible_from, ts_node_start_byte(f.node("step(x, y)")));
  EXPECT_NE(i.loop, kNone);
}

TEST(BuilderBindings, ChainedAugmentedAndWalrusAssignments) {
  ModelFixture f("a = b = g()\ntotal += loss\nif (n := len(xs)) > 0:\n    pass\nx: int\n");
  EXPECT_EQ(text_of(f, binding(f, "a").value), "g()");
  EXPECT_EQ(text_of(f, binding(f, "b").value), "g()");
  const Binding& total = binding(f, "total");
  EXPECT_EQ(total.kind, BindingKind::AugAssign);
  EXPECT_EQ(text_of(f, total.value), "loss");
  EXPECT_EQ(text_of(f, total.op), "total");
  EXPECT_EQ(binding(f, "n").kind, BindingKind::Walrus);
  // An annotation without a value binds nothing.
  EXPECT_THROW((void)binding(f, "x"), std::runtime_error);
}

TEST(BuilderCalls, ReceiverMethodAndBackwardFacts) {
  ModelFixture f("def train_step(batch):\n"
                 "    loss = criterion(model(batch.x), batch.y)\n"
                 "    accelerator.backward(loss)\n"
                 "    optimizer.step()\n");
  const auto* backward = f.call("accelerator.backward(loss)");
  ASSERT_NE(backward, nullptr);
  EXPECT_TRUE(backward->is_backward);
  EXPECT_EQ(backward->method, "backward");
  EXPECT_EQ(text_of(f, backward->receiver), "accelerator");
  const auto& fn = f.model().scope(backward->scope);
  EXPECT_TRUE(fn.facts.backprops);
  EXPECT_TRUE(fn.facts.steps_optimizer);
  // The engine runs the backward; the argument is what is back-propagated.
  EXPECT_TRUE(fn.backprop_names.contains("loss"));
  EXPECT_FALSE(fn.backprop_names.contains("accelerator"));
}

// `t.backward(grad)` back-propagates `t`; the gradient it is given is no loss. The function form
// back-propagates its first argument.
TEST(BuilderCalls, ATensorsBackwardArgumentIsItsGradient) {
  ModelFixture f("import torch\n"
                 "def chain(truncated, reps, weight, extra):\n"
                 "    for t, r in zip(truncated, reps):\n"
                 "        t.backward(weight * r.grad)\n"
                 "    torch.autograd.backward(extra)\n");
  const auto& fn = f.model().scope(f.call("torch.autograd.backward(extra)")->scope);
  EXPECT_TRUE(fn.backprop_names.contains("t"));
  EXPECT_TRUE(fn.backprop_names.contains("extra"));
  EXPECT_FALSE(fn.backprop_names.contains("weight"));
  EXPECT_FALSE(fn.backprop_names.contains("r.grad"));
}

TEST(BuilderCalls, CallsInExceptClauses) {
  ModelFixture f("try:\n    run()\nexcept RuntimeError:\n    recover()\nfinally:\n    close()\n");
  EXPECT_FALSE(f.call("run()")->in_except);
  EXPECT_TRUE(f.call("recover()")->in_except);
  EXPECT_FALSE(f.call("close()")->in_except);
}

TEST(BuilderRegions, WithItemsBindTheirTargetsAndSetTheBodysGradMode) {
  ModelFixture f("import torch\n"
                 "with open(p) as fh, torch.no_grad():\n    data = model(fh)\n"
                 "out = model(y)\n");
  const Binding& fh = binding(f, "fh");
  EXPECT_EQ(fh.kind, BindingKind::WithTarget);
  EXPECT_EQ(text_of(f, fh.value), "open(p)");
  EXPECT_EQ(fh.visible_from, ts_node_start_byte(f.node("data = model(fh)")));
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("model(fh)")));
  EXPECT_FALSE(f.model().grad_disabled_at(f.node("model(y)")));
}

TEST(BuilderRegions, ConditionalWithItemAndSetGradEnabledStatement) {
  ModelFixture f("import torch\n"
                 "with torch.no_grad() if not train else nullcontext():\n    a = model(x)\n"
                 "def f():\n    torch.set_grad_enabled(False)\n    b = model(y)\n"
                 "c = model(z)\n");
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("model(x)")));
  EXPECT_TRUE(f.model().grad_disabled_at(f.node("model(y)")));
  EXPECT_FALSE(f.model().grad_disabled_at(f.node("model(z)")));
}
