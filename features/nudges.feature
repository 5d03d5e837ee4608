Feature: Cross-app nudges

  Scenario: A user who writes letters but has no CV is nudged toward Phoenix CV
    Given Alice generated a cover letter for "Airbus"
    When the flywheel processes the queue
    Then Phoenix Letters shows Alice the nudge "letters_to_cv" in the wording of her variant
    And Phoenix CV shows Alice no nudge

  Scenario: The nudge stops once the user uploads a CV, and counts as converted
    Given Alice generated a cover letter for "Airbus"
    And the flywheel processes the queue
    And Phoenix Letters shows Alice her nudge
    When Alice uploads her CV
    And the flywheel processes the queue
    Then Phoenix Letters shows Alice no nudge
    And the ecosystem counts 1 nudge detected and 1 converted

  Scenario: A user who has a CV but no letter is nudged toward Phoenix Letters
    Given Alice uploaded her CV
    When the flywheel processes the queue
    Then Phoenix CV shows Alice the nudge "cv_to_letters" in the wording of her variant

  Scenario: A nudge is shown at most once a day
    Given Alice generated a cover letter for "Airbus"
    And the flywheel processes the queue
    When Phoenix Letters shows Alice her nudge
    Then Phoenix Letters shows Alice no nudge

  Scenario: Before the flywheel has run, the nudge the events call for is shown, and once only
    Given Alice generated a cover letter for "Airbus"
    When Phoenix Letters shows Alice her nudge
    Then Phoenix Letters shows Alice no nudge
    When the flywheel processes the queue
    Then Phoenix Letters shows Alice no nudge
    And the ecosystem counts 1 nudge seen, 0 converted and 0 organic
