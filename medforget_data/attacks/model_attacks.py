"""Run the attacks for one model at one level and add them to a results JSON (the scorer's file)."""

from __future__ import annotations

import json
from pathlib import Path

from medforget_data.attacks.forget_quality import ks_forget_quality, score_distance
from medforget_data.attacks.mia import MIA_ATTACKS, privleak, roc_auc
from medforget_data.attacks.reconstruction import DEPTHS, HierarchyFacts, attack_question
from medforget_data.dataset.manifest import HIERARCHY_FILE, read_manifest
from medforget_data.dataset.schema import Hierarchy
from medforget_data.errors import MedForgetError
from medforget_data.models.examples import read_examples
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.results import Results, read_results, write_results
from medforget_data.scoring.score import score_item


def check_matching(
    dataset_dir: Path, level: str, results: Results, model_hash: str, results_path: Path
) -> None:
    manifest = read_manifest(dataset_dir)
    if results.dataset_hash != manifest.dataset_hash:
        raise MedForgetError(
            f"{results_path} was scored on another dataset ({results.dataset_hash[:12]}… ≠ "
            f"{manifest.dataset_hash[:12]}…)"
        )
    if results.level != level:
        raise MedForgetError(f"{results_path} is for level {results.level!r}, not {level!r}")
    if model_hash != manifest.dataset_hash:
        raise MedForgetError(f"the model was trained on another dataset than {dataset_dir}")


def membership_section(model, processor, dataset_dir: Path, level: str) -> dict:
    from medforget_data.attacks.collect import membership_scores

    forget = read_examples(dataset_dir, level, "forget")
    holdout = read_examples(dataset_dir, level, "holdout")
    members, non_members = (
        membership_scores(model, processor, forget),
        membership_scores(model, processor, holdout),
    )
    auc = {
        attack: roc_auc([s[attack] for s in members.values()], [s[attack] for s in non_members.values()])
        for attack in MIA_ATTACKS
    }
    return {"auc": auc, "forget_loss": {k: v["loss"] for k, v in members.items()}}


def reconstruction_section(
    model, processor, dataset_dir: Path, level: str, max_new_tokens: int = 160
) -> dict:
    from medforget_data.models.generate import generate_answers

    hierarchy = Hierarchy.model_validate(
        json.loads((dataset_dir / HIERARCHY_FILE).read_text(encoding="utf-8"))
    )
    facts = HierarchyFacts(hierarchy)
    forget = read_examples(dataset_dir, level, "forget")
    judge = OfflineJudge()
    recovery = {}
    for depth in DEPTHS:
        questions = [attack_question(e.item, depth, facts) for e in forget]
        answers = generate_answers(
            model, processor, forget, questions=questions, max_new_tokens=max_new_tokens, progress=False
        )
        scores = [score_item(e.item, "forget", answers[e.item.id], judge).score for e in forget]
        present = [s for s in scores if s is not None]
        recovery[depth] = sum(present) / len(present) if present else float("nan")
    return {"depths": list(DEPTHS), "recovery": recovery}


def attack(
    model,
    processor,
    record,
    dataset_dir: Path,
    level: str,
    results_path: Path,
    oracle_results_path: Path | None = None,
) -> Results:
    """Membership inference, forget quality (needs the oracle's results), reconstruction; saved."""
    results = read_results(results_path)
    check_matching(dataset_dir, level, results, record.dataset_hash, results_path)
    unlearned_at = (record.recipe.get("unlearn") or {}).get("level")
    if unlearned_at not in (None, level):
        raise MedForgetError(f"the model was unlearned at level {unlearned_at!r}, not {level!r}")
    section = membership_section(model, processor, dataset_dir, level)
    section["reconstruction"] = reconstruction_section(model, processor, dataset_dir, level)
    if oracle_results_path is not None:
        oracle = read_results(oracle_results_path)
        check_matching(dataset_dir, level, oracle, record.dataset_hash, oracle_results_path)
        oracle_mia = oracle.attacks.get("membership")
        if not oracle_mia:
            raise MedForgetError(f"{oracle_results_path} has no membership section: attack the oracle first")
        section["privleak"] = {a: privleak(section["auc"][a], oracle_mia["auc"][a]) for a in MIA_ATTACKS}
        section["forget_quality_ks"] = ks_forget_quality(
            list(section["forget_loss"].values()), list(oracle_mia["forget_loss"].values())
        )
        mine = {i.id: i.score for i in results.items if i.split == "forget"}
        theirs = {i.id: i.score for i in oracle.items if i.split == "forget"}
        section["forget_score_distance"] = score_distance(mine, theirs)
    updated = results.model_copy(update={"attacks": {**results.attacks, "membership": section}})
    write_results(results_path, updated)
    return updated
