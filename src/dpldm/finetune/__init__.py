"""Stage 3: fine-tune the chosen attention modules and the class embedder with DP-SGD on PRIVATE data."""
