"""ICD-10 coding from Chinese free text (疾病分类): table, normaliser, matchers and the ranker.

:func:`clients.assistant.coding.ranker.default_coder` builds the coder once per process from
the shipped table (``data/icd10``) and training phrases (``data/coding/train.csv``).
"""
