// PETAutograd: reverse-mode automatic differentiation with double backward, layers, optimizers.
//
// Overview (what the GAN trainer uses):
//
//   Values      `Variable(tensor, requiresGrad:)` wraps a PETTensor `Tensor`. Parameters are leaves with
//               requiresGrad; ops on variables record a graph only when some input requires a gradient
//               and recording is on (`withNoGrad { … }` turns it off: sampling, evaluation).
//   Ops         Ops/: arithmetic with broadcasting (+ − * / with variables or scalars), pow, sqrt, exp,
//               log, tanh, sigmoid, softplus, relu, leakyReLU, abs; sum/mean (all or over axes),
//               reshaped/flattened, broadcast(to:), concat(_:axis:), slice; matmul/linear;
//               conv3d/convTranspose3d (and the 2-D versions, depth 1); batchNorm, layerNorm,
//               instanceNorm. Each op's backward rule sits next to its forward and is written with
//               differentiable ops, so gradients can be differentiated again.
//   Gradients   `try loss.backward()` accumulates into `param.grad` (a Tensor) for every leaf.
//               `try grad(outputs, inputs, createGraph: true)` returns differentiable gradients
//               (WGAN-GP; `Loss.gradientPenalty` does this for you). A graph is freed after backward
//               unless `retainGraph`; using it again throws `AutogradError.graphFreed`.
//   Layers      Module subclasses with callAsFunction: Linear, Conv3dLayer, ConvTranspose3dLayer,
//               Conv2dLayer, ConvTranspose2dLayer, BatchNorm3d/2d, LayerNorm, InstanceNorm3d, ReLU,
//               LeakyReLU, Tanh, Sigmoid, Flatten, Unflatten, Sequential, Lambda. Parameters (Variable
//               properties), buffers (Buffer properties) and sub-modules (Module / [Module] properties)
//               are found by reflection and named by property path: `gen.block1.conv.weight`.
//               train()/eval(); stateDict(prefix:) / loadStateDict(_:prefix:) (checked, all-or-nothing).
//               Init: normal, kaimingNormal/Uniform, xavierNormal/Uniform, dcgan(model), clipWeights.
//   Losses      Loss.bceWithLogits, wassersteinCritic/Generator, hingeCritic/Generator, l1, mse,
//               gradientPenalty (per-sample ε ~ U[0,1) from a PETRandom, λ = 10).
//   Optimizers  Adam, RMSprop (torch.optim semantics, state per parameter, in-place step);
//               `state()` / `load(_:)` give an OptimizerState (moments by "<param>.<slot>", step
//               counts by parameter name) for checkpoints.
//
// Training checkpoint files live in PETModels (`Checkpoint`, TrainingCheckpoint.swift), which stores
// these types as they are: Checkpoint.tensors = model.stateDict(prefix:), Checkpoint.optimizers[name]
// = opt.state(), and back with loadStateDict / load. ActivationCheckpointing.swift is the other
// meaning of the word: recomputing a segment's activations in backward.
