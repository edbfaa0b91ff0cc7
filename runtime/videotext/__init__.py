"""Video-text at run time: the graphs (model.py), zero-shot classification over prompts (zeroshot.py),
the prompt tokenizer (tokenizer.py) and the retrieval demo (`python -m runtime.videotext.retrieve`)."""
