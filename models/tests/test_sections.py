from cadenza_model.sections import replace_section


def test_a_marked_section_is_replaced_in_place_or_added_at_the_end(tmp_path):
    p = tmp_path / "EVALUATION.md"
    p.write_text("# Evaluation\n\n<!-- a -->\nold\n<!-- b -->\n\n## After\n")
    replace_section(p, "<!-- a -->", "<!-- b -->", ["<!-- a -->", "new", "<!-- b -->"])
    assert p.read_text() == "# Evaluation\n\n<!-- a -->\nnew\n<!-- b -->\n\n## After\n"
    replace_section(p, "<!-- c -->", "<!-- d -->", ["<!-- c -->", "more", "<!-- d -->"])
    assert p.read_text().endswith("## After\n\n<!-- c -->\nmore\n<!-- d -->\n")
    fresh = tmp_path / "new.md"
    replace_section(fresh, "<x>", "</x>", ["<x>", "y", "</x>"])
    assert fresh.read_text() == "<x>\ny\n</x>\n"


def test_others_sections_keeps_everything_from_the_first_marker(tmp_path):
    from cadenza_model.sections import others_sections
    p = tmp_path / "E.md"
    assert others_sections(p) == ""
    p.write_text("# Evaluation\nnumbers\n\n<!-- a: begin -->\nA\n<!-- a: end -->\n\n### by hand\ntext\n")
    assert others_sections(p) == "<!-- a: begin -->\nA\n<!-- a: end -->\n\n### by hand\ntext\n"
