"""Target kinds: what a record is for a kind of model, and which membership signals its
answers give (issue 10 item 7).

Three names, and one implementation of them:

* **Records**: an opaque set with a length and an integer index (a NumPy array of feature
  rows, images, node ids, or an object array of token sequences; a classifier's
  :class:`LabeledRecords` ``(x, y)``). Outside its kind, a record is only counted, split
  into members and non-members and aligned with its scores.
* :class:`Signals`: one model's named per-record signals on one record set, float64 arrays
  of shape (n,) or (n, k, ...), finite, with masks for padded (ragged) signals. This is the
  value every attack reads, whatever produced it.
* :class:`TargetKind`: a protocol of two steps, ``query(target, records) -> answers`` (the
  model's answers: the costly, query-counted step, once per model and record set) and
  ``signals(answers, names) -> Signals`` (pure NumPy). :func:`measure` runs both.
* :data:`CLASSIFIER` (:class:`ClassifierKind`): answers are
  :class:`~miaudit.outputs.ModelOutputs`, signals the functions of :mod:`miaudit.signals`.

:class:`SignalThreshold` is the generic metric-based attack on one signal ("member if low
loss"), for every kind. The threshold attacks ``gap``, ``loss`` (Yeom et al. 2018),
``confidence`` (Salem et al. 2019) and ``entropy``, ``modified_entropy`` (Song & Mittal
2021) read their signal through ``CLASSIFIER.signals`` and score it with their
``signal_rule``; their scores are bit-identical to the direct computation
(``tests/unit/test_kinds.py``).

Why this shape, and no more. A language model, a generator, a graph model and a federated
run share neither a classifier's answers (a probability matrix with labels, which
``ModelOutputs`` validates: rows summing to 1, labels within the classes) nor its
``Target`` interface (``num_classes``, ``predict_proba``), so neither is generalised:
``ModelOutputs`` and ``Target`` stay the classifier's answers and query interface, and a
new kind brings its own target and answers. What all kinds share, and what attacks,
metrics and the report need, is "a number (or a few) per record, by name". Keeping
``query`` apart from ``signals`` is today's split (``Target.outputs``, then the signal
functions): the answers are computed once per model and reused by every signal and
attack, reference models' answers go through the same pure function, and the pipeline can
cache answers as it caches outputs now. Records stay opaque because only the kind reads
them. Not done here (the next issues' work, each a local change once a kind exists): the
pipeline still queries ``Target.outputs`` directly, ``Attack`` still takes
``ModelOutputs`` and ``AttackerKnowledge(num_classes=...)``, and reference models give
``ModelOutputs``; attacks that read more than one signal (LiRA's scaled logit, RMIA's
probabilities) port the same way as the threshold attacks did.

How the next kinds plug in (each checked by a toy kind in ``tests/unit/test_kinds.py``):

* **Causal language models** (issue 12). Records: token sequences (an object array of
  int arrays, or texts the kind tokenises). Answers: the log-probability of each actual
  next token (teacher forcing), and for Min-K%++ the mean and spread of the log-probability
  under the model's next-token distribution. Signals: ``loss`` (mean token loss, (n,)),
  ``token_loss`` ((n, L) padded, with its mask), ``zlib_ratio`` (loss over the zlib length
  of the text, Carlini et al. 2021), ``lowercase_loss``. Attacks: the ``loss`` attack's rule
  (low ``loss``) unchanged; Min-K% reduces ``token_loss`` under its mask; the reference-model
  ratio subtracts the reference LM's ``loss`` (the same kind on the reference model);
  LiRA/RMIA read ``loss`` per reference model once ported to signals.
* **Generators** (issue 14, GAN/VAE/diffusion; GANs done: :class:`miaudit.generative.GeneratorKind`,
  attacks in ``miaudit.attacks.gan``). Records: images (n, C, H, W). Answers: the
  discriminator's outputs (white-box), each record's distances to k seeded generated samples
  or its latent-optimised reconstruction, a VAE's Monte-Carlo reconstructions, a diffusion
  model's denoising errors at chosen timesteps. Signals: ``discriminator_score`` (LOGAN,
  high), ``reconstruction_distance`` (GAN-Leaks, low), ``elbo`` (high), ``timestep_loss``
  ((n, T), reduced by the diffusion attacks). Attacks: :class:`SignalThreshold` on each
  (LOGAN white-box and GAN-Leaks full black-box are exactly that rule); calibration
  subtracts a reference generator's signal; generated samples are counted as queries.
* **Graph node classifiers** (issue 15). Records: node ids (int array) of a graph the
  target holds, labels from the graph. Answers: ``ModelOutputs`` of those nodes, from a
  0-hop query (the node alone) or a 2-hop query (its 2-hop subgraph). Signals: the
  classifier kind's own (the graph kind delegates to ``CLASSIFIER.signals``), so every
  attack that reads ``ModelOutputs`` or classifier signals (gap, loss, confidence,
  entropies, and LiRA/RMIA/Shokri) applies unchanged to node outputs. Link membership is a
  second graph kind whose records are node pairs (n, 2) and whose signals compare the two
  nodes' posteriors.
* **Federated learning** (issue 15). Records: ``LabeledRecords`` of the clients' data.
  Answers: ``ModelOutputs`` of the global model after each round (or of a client's update).
  Signals: classifier signals per round as (n, R) (``round_loss``), the last round's as
  (n,) (``loss``), and over-rounds reductions (the loss drop after an active attacker's
  gradient ascent). Attacks: the threshold rules on the last round or on a chosen round
  unchanged; passive/active attacks of Nasr et al. 2019 reduce the (n, R) signals.
"""

from miaudit.kinds._causal_lm import CAUSAL_LM, CausalLMKind, LMAnswers
from miaudit.kinds._classifier import CLASSIFIER, ClassifierKind, LabeledRecords
from miaudit.kinds._kind import Records, TargetKind, measure, resolve_names
from miaudit.kinds._signals import Signals
from miaudit.kinds._threshold import SignalThreshold

__all__ = [
    "CAUSAL_LM",
    "CLASSIFIER",
    "CausalLMKind",
    "LMAnswers",
    "ClassifierKind",
    "LabeledRecords",
    "Records",
    "SignalThreshold",
    "Signals",
    "TargetKind",
    "measure",
    "resolve_names",
]
