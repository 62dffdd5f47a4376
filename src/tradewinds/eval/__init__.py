"""Evaluation workers: strategies evaluated on candle windows the decision service sends.

`EvaluationWorker` (worker.py) answers `EvaluationRequest`s in the queue group the workers share;
`StrategyBook` (book.py) keeps the compiled strategies; window_rules.py and window_sizer.py size the
window each strategy needs so its indicators equal a full-history computation.
"""
