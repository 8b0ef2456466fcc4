"""Greengrass V2 platform of the group bundle: the pure V1 → V2 converter, its export and V2 validation.

Public surface: ``convert`` (group → ``V2Plan``), ``export`` (plan → files), ``issues_for_v2`` (validate
``--platform v2``), ``recipe_for_lambda`` (the recipe AWS generates for an imported Lambda) and the pinned
``PUBLIC_COMPONENTS`` catalog. ``apply`` (boto3 steps) lives beside them.
"""
