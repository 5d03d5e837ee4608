"""Skills: the offline matcher (lemmatiser, vocabulary, fuzzy spelling) and the LLM extractor."""
