"""FAQ explanations of papers ([Kimi] on papers.cool): the LLM provider client and the prompts."""
