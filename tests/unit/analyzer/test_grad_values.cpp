#include <gtest/gtest.h>

#include "tests/support/model_fixture.hpp"

using oomlint::testing::ModelFixture;

TEST(GradValues, LossFunctionsCarryAGraph) {
  ModelFixture f("import torch.nn.functional as F\n"
                 "criterion = nn.CrossEntropyLoss()\n"
                 "a = criterion(model(x), y)\n"
                 "b = F.mse_loss(out, y)\n"
                 "c = loss_fn(out, y)\n");
  EXPECT_TRUE(f.carries("criterion(model(x), y)"));
  EXPECT_TRUE(f.carries("F.mse_loss(out, y)"));
  EXPECT_TRUE(f.carries("loss_fn(out, y)"));
}

TEST(GradValues, SanitisersDropTheGraph) {
  ModelFixture f("loss = criterion(model(x), y)\n"
                 "a = loss.item()\nb = loss.detach()\nc = float(loss)\nd = loss.tolist()\ne = loss.data\n"
                 "f = loss.detach().cpu()\ng = f'{loss}'\n");
  EXPECT_FALSE(f.carries("loss.item()"));
  EXPECT_FALSE(f.carries("loss.detach()"));
  EXPECT_FALSE(f.carries("float(loss)"));
  EXPECT_FALSE(f.carries("loss.tolist()"));
  EXPECT_FALSE(f.carries("loss.data"));
  EXPECT_FALSE(f.carries("loss.detach().cpu()"));
  EXPECT_FALSE(f.carries("f'{loss}'"));
}

TEST(GradValues, DeviceMovesAndArithmeticKeepTheGraph) {
  ModelFixture f(
      "logits = model(x)\na = logits.cpu()\nb = logits.to('cpu')\nc = logits * 2 + 1\nd = torch.stack([logits])\n");
  EXPECT_TRUE(f.carries("logits.cpu()"));
  EXPECT_TRUE(f.carries("logits.to('cpu')"));
  EXPECT_TRUE(f.carries("logits * 2 + 1"));
  EXPECT_TRUE(f.carries("torch.stack([logits])"));
}

TEST(GradValues, FlowSensitiveRebinding) {
  ModelFixture f("loss = criterion(out, y)\nloss = loss.item()\ntotal = loss\n");
  EXPECT_FALSE(f.carries("loss", 3)); // the use on the last line sees the float
}

TEST(GradValues, ModelOutputsAndTheirLoss) {
  ModelFixture f(
      "outputs = model(**batch)\na = outputs.loss\nb = model(**batch).loss\nc = outputs['loss']\nd = outputs[0]\n");
  EXPECT_TRUE(f.carries("outputs.loss"));
  EXPECT_TRUE(f.carries("model(**batch).loss"));
  EXPECT_TRUE(f.carries("outputs['loss']"));
  EXPECT_TRUE(f.carries("outputs[0]"));
}

TEST(GradValues, BackPropagatedNamesAreSources) {
  ModelFixture f("def step(batch):\n    loss = compute(batch)\n    loss.backward()\n    return loss\n");
  EXPECT_TRUE(f.carries("loss", 0));
}

TEST(GradValues, HelpersReturningLossesAndTuples) {
  ModelFixture f("def compute(model, x, y):\n    out = model(x)\n    return criterion(out, y), out.argmax(1)\n"
                 "def metric(out):\n    return out.sum().item()\n"
                 "loss, pred = compute(model, x, y)\n"
                 "m = metric(out)\n"
                 "a = loss\nb = pred\n");
  EXPECT_TRUE(f.carries("loss", 1));
  EXPECT_FALSE(f.carries("pred", 1));
  EXPECT_FALSE(f.carries("metric(out)"));
}

TEST(GradValues, NothingCarriesUnderNoGrad) {
  ModelFixture f("import torch\nwith torch.no_grad():\n    out = model(x)\n    l = criterion(out, y)\n");
  EXPECT_FALSE(f.carries("model(x)"));
  EXPECT_FALSE(f.carries("criterion(out, y)"));
}

TEST(GradValues, ModulesFromClassesAndConstructors) {
  ModelFixture f("import torch.nn as nn\n"
                 "class Net(nn.Module):\n    def forward(self, x):\n        return x\n"
                 "net = Net()\nlin = nn.Linear(2, 2)\nthing = Thing()\n"
                 "a = net(x)\nb = lin(x)\nc = thing(x)\n");
  EXPECT_TRUE(f.carries("net(x)"));
  EXPECT_TRUE(f.carries("lin(x)"));
  EXPECT_FALSE(f.carries("thing(x)"));
}

TEST(GradValues, GenerateIsGradFree) {
  ModelFixture f("out = model.generate(**inputs)\n");
  EXPECT_FALSE(f.carries("model.generate(**inputs)"));
}

TEST(GradValues, SelfAttributesResolveAcrossMethods) {
  ModelFixture f("class T:\n"
                 "    def __init__(self):\n        self.crit = nn.MSELoss()\n        self.backbone = build()\n"
                 "    def step(self, x, y):\n        a = self.crit(self.backbone(x), y)\n");
  EXPECT_TRUE(f.carries("self.crit(self.backbone(x), y)"));
}

TEST(GradValues, ExtraLossFunctionsOption) {
  oomlint::model::ModelOptions options;
  options.extra_loss_functions = {"dice"};
  ModelFixture plain("a = dice(out, y)\n");
  ModelFixture configured("a = dice(out, y)\n", options);
  EXPECT_FALSE(plain.carries("dice(out, y)"));
  EXPECT_TRUE(configured.carries("dice(out, y)"));
}

TEST(GradValues, WrappedModulesForward) {
  ModelFixture f("import torch\nmodel = torch.nn.parallel.DistributedDataParallel(net)\na = model.module(x)\n"
                 "b = model.module.encoder(x)\n");
  EXPECT_TRUE(f.carries("model.module(x)"));
  EXPECT_TRUE(f.carries("model.module.encoder(x)"));
}

TEST(GradValues, DetectionStyleLossDicts) {
  ModelFixture f("loss_dict = model(images, targets)\nlosses = sum(loss for loss in loss_dict.values())\n");
  EXPECT_TRUE(f.carries("sum(loss for loss in loss_dict.values())"));
}

TEST(GradValues, TermsOfABackPropagatedLossCarryAGraph) {
  ModelFixture f("def update(actor, critic_fn, obs, ret, w):\n"
                 "    pi = actor(obs).mean()\n"
                 "    v = (critic_fn(obs) - ret).pow(2).mean()\n"
                 "    scale = w.get()\n"
                 "    loss = pi + 0.5 * v\n"
                 "    other = pi * scale\n"
                 "    loss.backward()\n"
                 "    a = v\n"
                 "    b = scale\n");
  EXPECT_TRUE(f.carries("v", 2));      // `a = v`: a term of the back-propagated loss
  EXPECT_FALSE(f.carries("scale", 2)); // a factor of a loss that is not back-propagated
}

TEST(GradValues, AnEmptyListHoldsWhatIsAppendedToIt) {
  ModelFixture f("def episode(policy, steps):\n"
                 "    log_probs, rewards = [], []\n"
                 "    for s in steps:\n"
                 "        log_probs.append(policy(s))\n"
                 "        rewards.append(s.reward)\n"
                 "    unused = []\n"
                 "    return torch.stack(log_probs), torch.stack(unused)\n");
  EXPECT_TRUE(f.carries("torch.stack(log_probs)"));
  EXPECT_FALSE(f.carries("torch.stack(unused)"));
}

TEST(GradValues, DistributionsCarryTheirParametersGraphButSamplesDoNot) {
  ModelFixture f("import torch\n"
                 "dist = torch.distributions.Categorical(logits=policy(obs))\n"
                 "a = dist.log_prob(act)\n"
                 "b = dist.entropy()\n"
                 "c = dist.sample()\n");
  EXPECT_TRUE(f.carries("dist.log_prob(act)"));
  EXPECT_TRUE(f.carries("dist.entropy()"));
  EXPECT_FALSE(f.carries("dist.sample()"));
}

TEST(GradValues, ContainerLiteralsTellTheStoryOfTheirGraph) {
  ModelFixture f("def gather(model, loader, outs):\n"
                 "    for x in loader:\n"
                 "        out = model(x)\n"
                 "        outs.append((x, out))\n"
                 "        outs.append([o for o in out])\n");
  for (const std::string literal : {"(x, out)", "[o for o in out]"}) {
    const auto notes = f.model().evidence_of(f.model().value_of(f.node(literal)));
    ASSERT_FALSE(notes.empty()) << literal;
    EXPECT_EQ(notes.back().start, ts_node_start_byte(f.node("model(x)"))) << literal;
  }
}

// An annotation naming a class a library describes types the parameter; other annotations
// leave the parameter to its name.
TEST(GradValues, AnnotatedParametersTakeTheLibrarysWord) {
  ModelFixture f("from sentence_transformers import SentenceTransformer\n"
                 "def embed(model: SentenceTransformer, other: 'Encoder', x):\n"
                 "    a = model.encode(x)\n"
                 "    b = model(x)\n"
                 "    c = other.encode(x)\n");
  EXPECT_FALSE(f.carries("model.encode(x)"));
  EXPECT_FALSE(f.carries("model(x)"));
  EXPECT_EQ(f.model().value_of(f.node("other")).kind, oomlint::model::Kind::Unknown);
}

// `.item()` takes one number: a reduction along a dimension leaves a tensor per row.
TEST(GradValues, OnlyAWholeReductionIsAScalarLoss) {
  ModelFixture f("out = model(x)\na = out.sum()\nb = out.mean()\nc = out.sum(1)\nd = out.mean(dim=-1)\n"
                 "e = out.sum(keepdim=False)\n");
  const auto kind = [&](const char* text) { return f.model().value_of(f.node(text)).kind; };
  EXPECT_EQ(kind("out.sum()"), oomlint::model::Kind::Loss);
  EXPECT_EQ(kind("out.mean()"), oomlint::model::Kind::Loss);
  EXPECT_EQ(kind("out.sum(1)"), oomlint::model::Kind::Tensor);
  EXPECT_EQ(kind("out.mean(dim=-1)"), oomlint::model::Kind::Tensor);
  EXPECT_EQ(kind("out.sum(keepdim=False)"), oomlint::model::Kind::Loss);
  EXPECT_TRUE(f.carries("out.sum(1)"));
}

// `from_pretrained` builds a model only from a model's class: a tokenizer's or a config's is none.
TEST(GradValues, FromPretrainedOfATokenizerIsNoModel) {
  ModelFixture f("from transformers import BertModel, BertTokenizer\n"
                 "tok = BertTokenizer.from_pretrained('bert')\nnet = BertModel.from_pretrained('bert')\n"
                 "a = tok('some text')\nb = net(x)\n");
  EXPECT_FALSE(f.carries("tok('some text')"));
  EXPECT_TRUE(f.carries("net(x)"));
}
