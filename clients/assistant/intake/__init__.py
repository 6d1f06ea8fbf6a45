"""Assisted consultation (辅助问诊): question trees, red-flag rules and the differential."""
