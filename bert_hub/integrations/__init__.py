"""bert_hub in other engines: Apache Beam."""
