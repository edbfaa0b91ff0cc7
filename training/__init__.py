"""Training recipes for the bundled models (apart from the runtime; needs torch + transformers).

`masking` builds tube and random masks in Hugging Face VideoMAE token order, `pretrain` runs
masked-autoencoder pretraining with `VideoMAEForPreTraining`, `finetune` turns the pretrained
encoder into a `VideoMAEForVideoClassification` and saves it with its image-processor config.
`python -m training.train_bundled` reproduces `models/videomae-motion/`;
`python -m training.experiments` reproduces the tube-vs-random table in docs/EXPERIMENTS.md.
Nothing in `runtime/` imports this package.
"""
