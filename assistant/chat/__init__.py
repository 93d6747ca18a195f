"""Chat orchestration: prompt layout within a token budget, generation, citation checks."""
