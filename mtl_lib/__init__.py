"""mtl_lib: the reusable, device-agnostic code of the Multi-task minBERT course.

The notebooks import from here; a notebook writes code itself only where that
code is the lesson, and then checks it against the version in this package.

Module map, from the bottom up (each module's docstring says more):

* the encoder - ``pretrained`` (find and read Hugging Face BERT checkpoints), ``tokenizer``
  (WordPiece), ``attention``, ``bert`` (minBERT), ``encode`` (pooling, sentence embeddings),
  ``parity`` (minBERT vs ``transformers.BertModel``);
* data and the model - ``data`` (the CS224N files), ``batches`` (padding, length-grouped batches),
  ``model`` (``HeadConfig``, ``MultitaskBert``: one encoder, three heads), ``diagram``;
* training - ``train`` (``TrainConfig``, ``Trainer``: the sequential and summed loops), with
  ``schedule`` (steps, learning rates, the optimizer's groups), ``combine`` (summed or PCGrad gradients),
  ``bookkeeping`` (cadence, history, what a checkpoint keeps), ``pcgrad``, ``smart``, ``weighting`` (uncertainty weights), ``contrastive``, ``precision`` (bf16
  autocast), ``distributed`` (torchrun), ``gradients`` (per-task gradient norms), ``frozen`` (the
  frozen baseline: heads on cached features);
* scoring - ``evaluate`` (metrics, prediction files), ``stats`` (intervals), ``analysis`` (errors);
* a run - ``options`` (THE run configuration: scales, recipes, budgets, the train options and their
  resolution), ``experiment`` (one run, and ``run_command``: the one way a train command is launched),
  ``run_folder`` (checkpoints, weights, where runs go), ``records`` (what a run records; is it this
  command's), ``report`` (what a command prints and draws), ``locks``;
* many runs - ``sweep`` (lr x lambda x dropout), ``reproduce`` (the tables over seeds), ``shipped``
  (results that ship with the package, ``results/``), ``paper`` (the paper's figures as data);
* speed and time - ``bench``, ``speed``, ``timing``, ``budgets`` (how long a notebook takes);
* the course around it - ``setup`` (the notebooks' setup cell), ``colab``, ``classroom`` (student
  release, autograder), ``plots``, ``live`` (a loss curve drawn while a model trains), ``widgets``, ``progress``, and ``cli`` (the command line: nothing
  in the package imports it).

Old names kept for existing imports: ``runs`` (now ``run_folder``), ``features`` (``frozen``),
``checkpoints`` (``pretrained``).
"""

__version__ = "0.1.0"
