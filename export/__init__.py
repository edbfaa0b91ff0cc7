"""Tubelet export: trained checkpoint → ONNX (+ engines) → artifact folder. Needs torch (pip install 'tubelet[export]')."""
